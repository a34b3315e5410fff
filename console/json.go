package console

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// writeJSON answers with v as JSON and status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value the console sends is made of strings, numbers,
		// maps and slices: this is a bug, answered all the same.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "encoding the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// apiError is every error answer's body.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}
