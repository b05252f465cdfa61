package payloadcodec

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
)

// HandlerOptions configure the remote codec endpoint.
type HandlerOptions struct {
	// AllowedOrigins are the Web UI origins (scheme://host:port, exact match)
	// whose browsers may call the endpoint. Requests from any other origin get
	// no CORS headers and are refused.
	AllowedOrigins []string
	// Token, when set, must arrive as `Authorization: Bearer <token>` on every
	// /encode and /decode request.
	Token string
	// Logger records refused requests; nil logs nothing.
	Logger *slog.Logger
}

// Headers the Web UI and the temporal CLI send to a codec endpoint.
const allowedRequestHeaders = "Content-Type,X-Namespace,Authorization"

// NewHandler serves Temporal's remote codec protocol (POST /encode and
// /decode with protojson Payloads, as the Web UI and `temporal
// --codec-endpoint` send them) with the SDK's handler, behind a CORS policy
// that admits only the configured Web UI origins and an optional bearer token.
func NewHandler(c *Codec, o HandlerOptions) http.Handler {
	codecHandler := converter.NewPayloadCodecHTTPHandler(c)
	allowed := map[string]bool{}
	for _, origin := range o.AllowedOrigins {
		allowed[strings.TrimRight(origin, "/")] = true
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on Origin; caches must not share it across origins.
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !allowed[origin] {
				// No CORS headers: the browser blocks the call; a non-browser
				// client forging the header gets a plain refusal.
				logger.Warn("codec request from a disallowed origin refused", "origin", origin, "path", r.URL.Path)
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions {
			// A preflight carries no credentials, so it is answered before the token check.
			if origin != "" {
				w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", allowedRequestHeaders)
				w.Header().Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if o.Token != "" && !bearerMatches(r.Header.Get("Authorization"), o.Token) {
			logger.Warn("codec request without a valid bearer token refused", "path", r.URL.Path, "namespace", r.Header.Get("X-Namespace"))
			w.Header().Set("WWW-Authenticate", `Bearer realm="infraflow codec"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		codecHandler.ServeHTTP(w, r)
	})
}

func bearerMatches(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// Server is a running codec endpoint.
type Server struct {
	// URL is the endpoint to give the Web UI and `temporal --codec-endpoint`.
	URL string
	srv *http.Server
}

// Serve listens on addr (host:port; port 0 picks one) and serves the codec
// endpoint until Close.
func Serve(addr string, c *Codec, o HandlerOptions) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("codec server address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: NewHandler(c, o), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return &Server{URL: "http://" + l.Addr().String(), srv: srv}, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// ReadToken reads a bearer token from a file (trailing newline ignored).
func ReadToken(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading codec server token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("codec server token file %s is empty", file)
	}
	return token, nil
}
