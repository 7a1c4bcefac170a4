package liveview

import (
	"errors"
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

// Root paths for the dashboard, tried in order. Benthos' own server routes
// with gorilla/mux, where "/" would be a prefix that catches every path
// registered after it; "{dashboard:$}" matches the root alone there. Go's
// ServeMux refuses that pattern (a panic Register recovers from) and takes
// "/{$}", its own root-only pattern.
var rootPatterns = []string{"/{dashboard:$}", "/{$}"}

// Register adds the Hub's endpoints and the dashboard to the HTTP server of
// mgr's stream: Benthos' own (the config's http.address) or the mux set with
// StreamBuilder.SetHTTPMux. The public API has no way to do it, so it goes
// through the internal manager (service.Resources.XUnwrapper); an error says
// why that failed, and the pipeline works on without the endpoints.
func Register(mgr *service.Resources, h *Hub) error {
	reg, err := registrar(mgr)
	if err != nil {
		return err
	}
	return registerAll(reg, h)
}

func registerAll(reg endpointRegistrar, h *Hub) error {
	for _, rt := range h.Routes() {
		if err := tryRegister(reg, rt.Path, rt.Desc, rt.Handler); err != nil {
			return err
		}
	}
	var errs []error
	for _, p := range rootPatterns {
		err := tryRegister(reg, p, "The live sales dashboard.", serveDashboard)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("the dashboard at /: %w", errors.Join(errs...))
}

func registrar(mgr *service.Resources) (endpointRegistrar, error) {
	u := reflect.ValueOf(mgr.XUnwrapper())
	unwrap := u.MethodByName("Unwrap")
	if !unwrap.IsValid() || unwrap.Type().NumIn() != 0 || unwrap.Type().NumOut() != 1 {
		return nil, fmt.Errorf("registering HTTP endpoints: %T has no Unwrap() method (is this Benthos v4.80?)", mgr.XUnwrapper())
	}
	inner := unwrap.Call(nil)[0].Interface()
	reg, ok := inner.(endpointRegistrar)
	if !ok {
		return nil, fmt.Errorf("registering HTTP endpoints: the stream's manager %T has no RegisterEndpoint(path, desc, handler)", inner)
	}
	return reg, nil
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
