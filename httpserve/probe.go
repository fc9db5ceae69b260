package httpserve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrUnhealthy is returned by Probe when the server answered with a
// status other than 200 OK.
var ErrUnhealthy = errors.New("httpserve: not healthy")

// ProbeTimeout bounds a Probe that is given a context without a deadline.
const ProbeTimeout = 5 * time.Second

// Probe asks the server listening on listen (a Config.Listen value) for
// path, such as "/healthz", and returns nil on 200 OK. An unspecified
// host (":8080", "0.0.0.0:8080", "[::]:8080") is asked on the loopback
// address. It is what a binary's -healthcheck flag runs, for container
// health checks on images that carry no curl.
func Probe(ctx context.Context, listen, path string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("httpserve: probe %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ProbeTimeout)
		defer cancel()
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("httpserve: probe %s: %w", url, err)
	}
	// One request, no connection kept: a health check is a short-lived
	// process, and leaves nothing behind in a long-lived one.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("httpserve: probe: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %s: %s", ErrUnhealthy, url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
