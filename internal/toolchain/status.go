package toolchain

// Tool statuses in a PlatformCheck report.
const (
	ToolOK      = "ok"
	ToolMissing = "missing"
)

// ToolStatus is one row of a platform report.
type ToolStatus struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Version  string `json:"version,omitempty"`
	Expected string `json:"expected,omitempty"`
	Path     string `json:"path,omitempty"`
	// Detail says why a tool is missing, or notes a version other than the pinned one.
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}
