package devmode

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

//go:embed pages
var pagesFS embed.FS

// contentTypes of the pages' files, set here rather than from the system's
// MIME table, which differs between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// Pages serves the dev pages: index.html (pricing), pay.html (the stand-in
// for Stripe's hosted Checkout page) and success.html, with the dev.js and
// dev.css they share. Paths are relative to where it is mounted, e.g.
//
//	mux.Handle("/dev/", http.StripPrefix("/dev", devmode.Pages()))
//
// The pages call billingd at ?api=<base URL> (default: their own origin) with
// the bearer token given as #token=<JWT>.
func Pages() http.Handler {
	root, err := fs.Sub(pagesFS, "pages")
	if err != nil {
		panic(err) // the directory is embedded: a build without it does not compile
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ext := path.Ext(r.URL.Path)
		if ext == "" { // a directory: its index.html
			ext = ".html"
		}
		if ct, ok := contentTypes[ext]; ok {
			w.Header().Set("Content-Type", ct)
		}
		// The pages are a reference to read, not an app to cache: an edit
		// shows on the next load.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
