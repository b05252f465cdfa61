package launch

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/infraflow/infraflow/workflows"
)

const barWidth = 30

// bar draws progress in place on a terminal, and as one line per change
// elsewhere (CI logs, pipes), where carriage returns would garble the output.
type bar struct {
	out   io.Writer
	tty   bool
	last  string
	drawn bool
}

func newBar(out io.Writer) *bar {
	tty := false
	if f, ok := out.(*os.File); ok {
		if info, err := f.Stat(); err == nil {
			tty = info.Mode()&os.ModeCharDevice != 0
		}
	}
	return &bar{out: out, tty: tty}
}

func (b *bar) draw(p workflows.Progress) {
	line := render(p)
	if line == b.last {
		return
	}
	b.last = line
	if b.tty {
		fmt.Fprintf(b.out, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(b.out, line)
	}
	b.drawn = true
}

func (b *bar) finish() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.out)
	}
}

func render(p workflows.Progress) string {
	filled := 0
	if p.Total > 0 {
		filled = min(barWidth, barWidth*p.Done/p.Total)
	}
	line := fmt.Sprintf("[%s%s] %d/%d %s", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.Done, p.Total, p.Phase)
	if p.Current != "" {
		line += ": " + p.Current
	}
	return line
}
