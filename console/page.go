package console

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
)

//go:embed page
var pageFiles embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(pageFiles, "page/index.html"))
	pageCSS      = template.CSS(mustRead("page/console.css"))
	pageJS       = template.JS(mustRead("page/console.js"))
)

func mustRead(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// pageData is what index.html is executed with.
type pageData struct {
	Nonce     string
	Actions   bool
	RefreshMS int64
	CSS       template.CSS
	JS        template.JS
}

// servePage serves the single page, whose script and style carry a fresh
// nonce that the Content-Security-Policy requires: nothing else may run or
// load, and no other site may frame it.
func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	var raw [16]byte
	rand.Read(raw[:])
	nonce := base64.RawURLEncoding.EncodeToString(raw[:])
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, pageData{
		Nonce: nonce, Actions: h.cfg.actions, RefreshMS: h.cfg.refresh.Milliseconds(), CSS: pageCSS, JS: pageJS,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "rendering the page: %v", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; "+
		"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Write(buf.Bytes())
}
