package liveview

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// The dashboard works without internet: every file it loads is here.
// uPlot (MIT, assets/LICENSE.uPlot) is vendored from the npm package uplot.
//
//go:embed assets
var assetFS embed.FS

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var assets = loadAssets()

func loadAssets() map[string]*asset {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".png":  "image/png",
		".svg":  "image/svg+xml",
		"":      "text/plain; charset=utf-8",
	}
	m := map[string]*asset{}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		ct, ok := types[path.Ext(e.Name())]
		if !ok {
			ct = types[""]
		}
		sum := sha256.Sum256(body)
		m[e.Name()] = &asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return m
}

// assetNames are the files served under PathAssets, sorted.
func assetNames() []string {
	var names []string
	for name := range assets {
		if name != "index.html" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// contentSecurityPolicy lets the page load only its own scripts, styles and
// streams: a product name that slipped into markup still could not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a := assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	// Revalidated on every load (cheap, by ETag): a new binary's page never
	// runs with the old one's scripts.
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(a.contentType, "text/html") {
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Frame-Options", "DENY")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// dashboardAt serves the page at the route root. Registered as "/", a router
// hands it every path nothing else takes, so it answers only "/" itself; the
// gorilla route matches the root alone (and Benthos' root_path copy of it,
// /benthos/).
func dashboardAt(root string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !getOnly(w, r) {
			return
		}
		if (root == "/" && r.URL.Path != "/") || !strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		serveAsset(w, r, "index.html")
	}
}

// serveAssets serves the page's files under PathAssets, by name.
func serveAssets(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	name := path.Base(r.URL.Path)
	if name == "index.html" || strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, name)
}
