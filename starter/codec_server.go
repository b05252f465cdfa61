package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/infraflow/infraflow/internal/payloadcodec"
)

// codecServerCommand serves the payload codec endpoint for a Web UI and the
// temporal CLI, apart from any worker (a cluster's UI needs one it can reach).
func (a *app) codecServerCommand() *cobra.Command {
	var listen, tokenFile string
	var webOrigins []string
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve the payload codec endpoint (/encode, /decode) so the Web UI and temporal CLI show decrypted payloads",
		Long: "Serves Temporal's remote codec protocol with the workers' keys (--codec-keys, $" + payloadcodec.KeyFileEnv +
			" or $" + payloadcodec.KeysEnv + "). Browsers may call it only from the --web-origin origins; with --token-file every request must carry " +
			"`Authorization: Bearer <token>` (the Web UI's passAccessToken, or `temporal --codec-auth 'Bearer <token>'`).",
		Example: `  starter codec-server --codec-keys /etc/infraflow/codec-keys --listen 127.0.0.1:8081 --web-origin http://127.0.0.1:8233
  temporal workflow show --workflow-id provision-local-dev --codec-endpoint http://127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.conn.Encryption.Insecure {
				return errors.New("a codec server without keys has nothing to decode with: drop --insecure-no-codec and pass --codec-keys")
			}
			codec, err := a.conn.Encryption.Resolve()
			if err != nil {
				return err
			}
			var token string
			if tokenFile != "" {
				if token, err = payloadcodec.ReadToken(tokenFile); err != nil {
					return err
				}
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, err := payloadcodec.Serve(listen, codec.Codec, payloadcodec.HandlerOptions{AllowedOrigins: webOrigins, Token: token, Logger: logger})
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Printf("codec server listening on %s (keys %v from %s; Web UI origins %v; bearer token: %t)\n",
				srv.URL, codec.Codec.KeyIDs(), codec.Codec.Source(), webOrigins, token != "")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8081", "host:port to serve on")
	cmd.Flags().StringSliceVar(&webOrigins, "web-origin", []string{"http://127.0.0.1:8233"}, "Web UI origin (scheme://host:port) allowed to call from a browser; repeat for more")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "require `Authorization: Bearer <token>` with the token in this file")
	return cmd
}
