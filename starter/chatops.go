package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/infraflow/infraflow/internal/approvals"
	"github.com/infraflow/infraflow/internal/chatops"
	"github.com/infraflow/infraflow/internal/directory"
)

// chatopsCommand runs the chat ops endpoint on its own, apart from any worker.
func (a *app) chatopsCommand() *cobra.Command {
	var listen, directoryFile, secretFile, dataDir string
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
			client, done, err := a.approvals()
			if err != nil {
				return err
			}
			defer done()
			stop, err := approvals.ServeChat(client, approvals.ChatOptions{Address: listen, Secret: secret, Directory: dir, DataDir: dataDir})
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
	cmd.Flags().StringVar(&dataDir, "data-dir", ".infraflow", "where the chat ops audit log is written")
	return cmd
}
