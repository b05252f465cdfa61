package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/chatops"
	"github.com/infraflow/infraflow/internal/directory"
	"github.com/infraflow/infraflow/internal/signing"
	"github.com/infraflow/infraflow/internal/signing/keyfile"
)

// chatopsCommand runs the chat ops endpoint on its own, apart from any worker.
func (a *app) chatopsCommand() *cobra.Command {
	var listen, directoryFile, secretFile, dataDir, relayKeyFile string
	cmd := &cobra.Command{
		Use:   "chatops",
		Short: "Serve the Slack-compatible chat ops endpoint (slash commands and buttons) standalone",
		Long: "Serves " + chatops.CommandsPath + " (slash command /infraflow) and " + chatops.InteractivePath +
			" (Approve/Reject buttons). Every request must carry a valid Slack v0 signature made with the signing secret from $" +
			chatops.SigningSecretEnv + " or --signing-secret-file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if directoryFile == "" {
				return fmt.Errorf("--directory is required: it maps chat user IDs to approvers")
			}
			dir, err := directory.Load(directoryFile)
			if err != nil {
				return err
			}
			secret, err := chatops.SigningSecret(secretFile, false)
			if err != nil {
				return err
			}
			if relayKeyFile == "" {
				relayKeyFile = filepath.Join(dataDir, "chat-relay-key")
			}
			relayKey, err := keyfile.LoadOrGenerate(relayKeyFile, "infraflow-chat-relay")
			if err != nil {
				return err
			}
			if line := signing.AuthorizedKey(keyfile.Public(relayKey), "infraflow-chat-relay"); !dir.HasRelayKey(line) {
				fmt.Fprintf(os.Stderr, "WARNING: the directory does not trust this chat server's key, so its decisions will be refused; add under \"relays\": "+
					"{\"name\": \"chatops\", \"keys\": [%q]}\n", line)
			}
			client, done, err := a.approvals()
			if err != nil {
				return err
			}
			defer done()
			stop, err := approvals.ServeChat(client, approvals.ChatOptions{Address: listen, Secret: secret, Directory: dir, DataDir: dataDir, RelayKey: relayKey})
			if err != nil {
				return err
			}
			defer stop()
			fmt.Printf("chat ops listening on http://%s%s and %s\n", listen, chatops.CommandsPath, chatops.InteractivePath)
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8234", "host:port to serve on")
	cmd.Flags().StringVar(&directoryFile, "directory", "", "directory file mapping chat user IDs to approvers")
	cmd.Flags().StringVar(&secretFile, "signing-secret-file", "", "file holding the Slack signing secret, when $"+chatops.SigningSecretEnv+" is unset")
	cmd.Flags().StringVar(&dataDir, "data-dir", ".infraflow", "where the chat ops audit log and replay guard are kept (share it with the worker's chat endpoint)")
	cmd.Flags().StringVar(&relayKeyFile, "relay-key", "", "this chat server's Ed25519 signing key, enrolled under relays in the directory (default <data-dir>/chat-relay-key, created if missing)")
	return cmd
}
