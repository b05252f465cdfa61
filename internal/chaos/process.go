package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/infraflow/infraflow/internal/procs"
)

// Processes kills processes on the worker's own machine. Each kill is
// recorded in a file under RecordDir before the signal is sent, so a retried
// activity kills the same processes (if they still run) and no others, such
// as the ones a supervisor restarted. Work that kills processes on a host
// runs on that host's task queue, so the record stays where the processes are.
type Processes struct {
	RecordDir string
}

// ProcessKill sends SIGKILL to the process a PID file names, or to the
// processes whose command line (arguments joined by spaces) matches Match, a
// regular expression. At most Limit processes (default 1) may match: more is
// refused rather than a guess at which ones were meant.
type ProcessKill struct {
	Name    string `json:"name"`
	PIDFile string `json:"pidFile,omitempty"`
	Match   string `json:"match,omitempty"`
	Limit   int    `json:"limit,omitempty"`
	// Signal is SIGKILL (the default), SIGTERM, SIGINT, SIGHUP or SIGQUIT.
	// Only after SIGKILL does Kill wait for the processes to be gone: the
	// others are the process's to handle (a SIGHUP may only reload it).
	Signal string `json:"signal,omitempty"`
}

// processSignals are the signals a process kill may send, by name.
var processSignals = map[string]syscall.Signal{
	"SIGKILL": syscall.SIGKILL, "SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT,
	"SIGHUP": syscall.SIGHUP, "SIGQUIT": syscall.SIGQUIT,
}

// KilledProcess is one process a kill took.
type KilledProcess struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"startTicks"`
	Command    string `json:"command"`
}

// ProcessKillResult says which processes the fault killed.
type ProcessKillResult struct {
	Name   string          `json:"name"`
	Killed []KilledProcess `json:"killed"`
	// AlreadyInjected says an earlier attempt had chosen these processes.
	AlreadyInjected bool   `json:"alreadyInjected"`
	Undo            string `json:"undo"`
}

const processUndoNote = "none possible: a killed process comes back only if a supervisor restarts it"

type processRecord struct {
	Fault  string          `json:"fault"`
	Killed []KilledProcess `json:"killed"`
}

func (in ProcessKill) validate() (ProcessKill, *regexp.Regexp, error) {
	if err := checkFaultName(in.Name); err != nil {
		return in, nil, err
	}
	if (in.PIDFile == "") == (in.Match == "") {
		return in, nil, &InputError{Field: "pidFile", Problem: "and match are both given or both missing", Fix: "give pidFile (the process it names) or match (a regular expression over command lines), one of them"}
	}
	if in.Limit == 0 {
		in.Limit = 1
	}
	if in.Signal == "" {
		in.Signal = "SIGKILL"
	}
	if _, ok := processSignals[in.Signal]; !ok {
		return in, nil, &InputError{Field: "signal", Problem: fmt.Sprintf("is %q", in.Signal), Fix: "use SIGKILL, SIGTERM, SIGINT, SIGHUP or SIGQUIT"}
	}
	if in.Limit < 0 {
		return in, nil, &InputError{Field: "limit", Problem: fmt.Sprintf("is %d", in.Limit), Fix: "give how many processes the match may take, at least 1"}
	}
	if in.Match == "" {
		return in, nil, nil
	}
	re, err := regexp.Compile(in.Match)
	if err != nil {
		return in, nil, &InputError{Field: "match", Problem: fmt.Sprintf("is not a regular expression: %v", err), Fix: "write it in Go's RE2 syntax, e.g. sshd: .*-p 2222"}
	}
	return in, re, nil
}

// Kill signals the processes and, for SIGKILL, waits (up to 5s) until each
// is gone.
func (p *Processes) Kill(ctx context.Context, in ProcessKill) (ProcessKillResult, error) {
	in, re, err := in.validate()
	if err != nil {
		return ProcessKillResult{}, err
	}
	if p.RecordDir == "" {
		return ProcessKillResult{}, errors.New("chaos.Processes has no RecordDir: the worker must say where kills are recorded")
	}
	result := ProcessKillResult{Name: in.Name, Undo: processUndoNote}
	record, found, err := p.readRecord(in.Name)
	if err != nil {
		return result, err
	}
	if !found {
		var victims []procs.Process
		if in.PIDFile != "" {
			victim, err := fromPIDFile(in.PIDFile)
			if err != nil {
				return result, err
			}
			victims = []procs.Process{victim}
		} else {
			victims = matching(re)
			if len(victims) == 0 {
				return result, &NotFoundError{What: fmt.Sprintf("a running process whose command line matches %q", in.Match), Fix: "check the pattern against `ps -eo args`"}
			}
			if len(victims) > in.Limit {
				var commands []string
				for _, v := range victims {
					commands = append(commands, fmt.Sprintf("%d %s", v.PID, strings.Join(v.Args, " ")))
				}
				return result, &InputError{Field: "match", Problem: fmt.Sprintf("%q matches %d processes, more than limit %d: %s", in.Match, len(victims), in.Limit, strings.Join(commands, "; ")),
					Fix: "narrow the pattern, or raise limit if all of them are meant"}
			}
		}
		record = processRecord{Fault: in.Name}
		field := "match"
		if in.PIDFile != "" {
			field = "pidFile"
		}
		for _, v := range victims {
			if err := refuseToKill(field, v.PID); err != nil {
				return result, err
			}
			record.Killed = append(record.Killed, KilledProcess{PID: v.PID, StartTicks: v.StartTicks, Command: strings.Join(v.Args, " ")})
		}
		if err := p.writeRecord(record); err != nil {
			return result, err
		}
	}
	result.Killed, result.AlreadyInjected = record.Killed, found
	for _, k := range record.Killed {
		if !procs.StillRunning(k.PID, k.StartTicks) {
			continue // dead already; the PID may belong to another process now
		}
		if err := syscall.Kill(k.PID, processSignals[in.Signal]); err != nil && !errors.Is(err, syscall.ESRCH) {
			return result, fmt.Errorf("sending %s to process %d (%s): %w", in.Signal, k.PID, k.Command, err)
		}
	}
	if in.Signal != "SIGKILL" {
		return result, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range record.Killed {
		for {
			// A zombie is dead; only its parent's wait is missing.
			if !procs.StillRunning(k.PID, k.StartTicks) {
				break
			}
			if time.Now().After(deadline) {
				return result, fmt.Errorf("process %d (%s) still runs 5s after SIGKILL (in uninterruptible sleep?)", k.PID, k.Command)
			}
			select {
			case <-ctx.Done():
				return result, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return result, nil
}

// ProcessKillRef finds a process kill to undo.
type ProcessKillRef struct {
	Name string `json:"name"`
}

// UndoKill removes the kill's record: a killed process cannot be brought back.
func (p *Processes) UndoKill(_ context.Context, ref ProcessKillRef) (UndoResult, error) {
	name := ref.Name
	if err := checkFaultName(name); err != nil {
		return UndoResult{}, err
	}
	result := UndoResult{Name: name, Note: processUndoNote}
	err := os.Remove(p.recordPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return result, nil
	case err != nil:
		return result, fmt.Errorf("removing the record of fault %s: %w", name, err)
	}
	result.Removed = true
	return result, nil
}

// refuseToKill keeps a kill off the machine's init and the worker itself
// (its parent too: killing it would take the worker along).
func refuseToKill(field string, pid int) error {
	if pid <= 1 || pid == os.Getpid() || pid == os.Getppid() {
		return &InputError{Field: field, Problem: fmt.Sprintf("names process %d, which is init or the worker itself", pid), Fix: "name the process under test"}
	}
	return nil
}

func fromPIDFile(path string) (procs.Process, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return procs.Process{}, &NotFoundError{What: "PID file " + path, Fix: "check the path, or that the process under test is running"}
	}
	if err != nil {
		return procs.Process{}, fmt.Errorf("reading PID file %s: %w", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return procs.Process{}, &InputError{Field: "pidFile", Problem: fmt.Sprintf("%s holds %.40q, not a PID", path, data), Fix: "name the file the process writes its PID to"}
	}
	proc, ok := procs.Get(pid)
	if !ok || proc.State == "Z" {
		return procs.Process{}, &NotFoundError{What: fmt.Sprintf("process %d (from PID file %s)", pid, path), Fix: "the file is stale: start the process under test first"}
	}
	return proc, nil
}

func matching(re *regexp.Regexp) []procs.Process {
	var found []procs.Process
	for _, p := range procs.List() {
		if p.State != "Z" && len(p.Args) > 0 && re.MatchString(strings.Join(p.Args, " ")) {
			found = append(found, p)
		}
	}
	return found
}

func (p *Processes) recordPath(fault string) string {
	return filepath.Join(p.RecordDir, recordKey(fault)+".json")
}

func (p *Processes) readRecord(fault string) (processRecord, bool, error) {
	var record processRecord
	data, err := os.ReadFile(p.recordPath(fault))
	if errors.Is(err, os.ErrNotExist) {
		return record, false, nil
	}
	if err != nil {
		return record, false, fmt.Errorf("reading the record of fault %s: %w", fault, err)
	}
	if err := json.Unmarshal(data, &record); err != nil || record.Fault != fault {
		return record, false, fmt.Errorf("%s is not the record of fault %s (%v): remove it", p.recordPath(fault), fault, err)
	}
	return record, true, nil
}

// writeRecord writes through a temporary file and a rename, so a crash never
// leaves a half-written record that a retry would misread.
func (p *Processes) writeRecord(record processRecord) error {
	if err := os.MkdirAll(p.RecordDir, 0o755); err != nil {
		return fmt.Errorf("creating the chaos record directory: %w", err)
	}
	data, err := json.Marshal(record)
	if err != nil {
		return err
	}
	path := p.recordPath(record.Fault)
	tmp := path + ".partial"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("recording the choice of fault %s: %w", record.Fault, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("recording the choice of fault %s: %w", record.Fault, err)
	}
	return nil
}
