package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPage(t *testing.T) {
	t.Setenv("MESSAGE", "teste")
	for _, accept := range []string{"*/*", "text/html"} {
		req := httptest.NewRequest(http.MethodGet, "/x?y=1", nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		page(rec, req)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, "teste") || !strings.Contains(body, "GET /x?y=1") {
			t.Errorf("Accept %s: %d\n%s", accept, rec.Code, body)
		}
		if accept == "text/html" && !strings.Contains(body, "<table>") {
			t.Errorf("no HTML for a browser:\n%s", body)
		}
	}
}
