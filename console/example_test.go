package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/console"
)

// One line mounts the console on the application's mux; the page is at
// /herald/ and its JSON API under /herald/api/.
func ExampleHandler() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("orders")
	q.Publish(context.Background(), herald.NewMessage("order 1"))

	mux := http.NewServeMux()
	mux.Handle("/herald/", console.Handler(b))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/herald/api/queues/orders")
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var orders struct {
		Name  string `json:"name"`
		Ready int    `json:"ready"`
	}
	json.NewDecoder(res.Body).Decode(&orders)
	fmt.Println(orders.Name, "ready:", orders.Ready)

	// Actions are off unless the console is made with AllowActions.
	res, err = http.Post(srv.URL+"/herald/api/purge/orders", "application/json", nil)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("purge:", res.Status)
	// Output:
	// orders ready: 1
	// purge: 403 Forbidden
}

// Behind the application's own authentication, with actions on.
func ExampleAllowActions() {
	b := herald.New()
	defer b.Close()
	requireAdmin := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "admin" || pass != "secret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="herald"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/herald/", requireAdmin(console.Handler(b, console.AllowActions())))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, _ := http.Get(srv.URL + "/herald/")
	res.Body.Close()
	fmt.Println("anonymous:", res.Status)
	req, _ := http.NewRequest("GET", srv.URL+"/herald/", nil)
	req.SetBasicAuth("admin", "secret")
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	fmt.Println("admin:", res.Status)
	// Output:
	// anonymous: 401 Unauthorized
	// admin: 200 OK
}
