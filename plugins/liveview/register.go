package liveview

import (
	"fmt"
	"net/http"
	"reflect"

	"github.com/redpanda-data/benthos/v4/public/service"
)

// endpointRegistrar is what Benthos' internal manager offers components
// (its HTTP server's router, or the mux of StreamBuilder.SetHTTPMux).
type endpointRegistrar interface {
	RegisterEndpoint(path, desc string, h http.HandlerFunc)
}

// gorillaRoot is the dashboard's path on Benthos' own HTTP server, which
// routes with gorilla/mux: there "/" would be a prefix, matched in the order
// routes were registered, catching every path registered after it (an
// http_server output's, say); "{dashboard:$}" matches the root alone. Other
// routers (Go's ServeMux, demo's) take "/" and prefer the longest match.
const gorillaRoot = "/{dashboard:$}"

// Register adds the Hub's endpoints and the dashboard to the HTTP server of
// mgr's stream: Benthos' own (the config's http.address) or the mux set with
// StreamBuilder.SetHTTPMux. The public API has no way to do it, so it goes
// through the internal manager (service.Resources.XUnwrapper); an error says
// why that failed, and the pipeline works on without the endpoints.
func Register(mgr *service.Resources, h *Hub) error {
	reg, root, err := registrar(mgr)
	if err != nil {
		return err
	}
	return registerAll(reg, h, root)
}

// registerAll registers the Hub's routes, and the dashboard at root.
func registerAll(reg endpointRegistrar, h *Hub, root string) error {
	for _, rt := range h.Routes() {
		if err := tryRegister(reg, rt.Path, rt.Desc, rt.Handler); err != nil {
			return err
		}
	}
	if err := tryRegister(reg, root, "The live sales dashboard.", dashboardAt(root)); err != nil {
		return fmt.Errorf("the dashboard at /: %w", err)
	}
	return nil
}

// registrar returns the stream's endpoint registrar and the dashboard's path
// on it.
func registrar(mgr *service.Resources) (endpointRegistrar, string, error) {
	u := reflect.ValueOf(mgr.XUnwrapper())
	unwrap := u.MethodByName("Unwrap")
	if !unwrap.IsValid() || unwrap.Type().NumIn() != 0 || unwrap.Type().NumOut() != 1 {
		return nil, "", fmt.Errorf("registering HTTP endpoints: %T has no Unwrap() method (is this Benthos v4.80?)", mgr.XUnwrapper())
	}
	inner := unwrap.Call(nil)[0].Interface()
	reg, ok := inner.(endpointRegistrar)
	if !ok {
		return nil, "", fmt.Errorf("registering HTTP endpoints: the stream's manager %T has no RegisterEndpoint(path, desc, handler)", inner)
	}
	if onBenthosServer(inner) {
		return reg, gorillaRoot, nil
	}
	return reg, "/", nil
}

// onBenthosServer reports whether the manager registers endpoints on
// Benthos' own HTTP server (internal/api, gorilla/mux) rather than on a mux
// given with SetHTTPMux. Unknown is false: "/" works on every router, at
// worst as a prefix.
func onBenthosServer(manager any) bool {
	v := reflect.ValueOf(manager)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	api := v.FieldByName("apiReg")
	if api.Kind() == reflect.Interface {
		api = api.Elem()
	}
	return api.IsValid() && api.Type().String() == "*api.Type"
}

// tryRegister turns a router's panic (Go's ServeMux on a pattern it cannot
// parse or already has) into an error.
func tryRegister(reg endpointRegistrar, path, desc string, h http.HandlerFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registering HTTP endpoint %s: %v", path, p)
		}
	}()
	reg.RegisterEndpoint(path, desc, h)
	return nil
}
