// Package procs reads the machine's process table (/proc): the worker finds
// what a killed predecessor left running (pulumi, ansible-playbook forks), and
// the soak finds strays, by command line and family.
package procs

import (
	"os"
	"strconv"
	"strings"
)

// Process is one running process, as /proc shows it.
type Process struct {
	PID, PPID, PGID int
	// State is the kernel's one-letter state ("Z" for a zombie).
	State string
	Args  []string
	// StartTicks is when the process started, in clock ticks since boot: a
	// PID and its start time name one process, even after the PID is reused.
	StartTicks uint64
}

// List returns every process whose command line could be read, except the
// caller. A process that ends while it is read is left out.
func List() []Process {
	entries, _ := os.ReadDir("/proc")
	var list []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if p, ok := Get(pid); ok {
			list = append(list, p)
		}
	}
	return list
}

// Get reads one process; ok is false when it does not exist (any more).
func Get(pid int) (Process, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return Process{}, false
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Process{}, false
	}
	// The command name may contain spaces; the fields after its closing
	// paren are fixed: state, ppid, pgrp, ..., starttime (the 20th).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 3 {
		return Process{}, false
	}
	p := Process{PID: pid, State: fields[0]}
	p.PPID, _ = strconv.Atoi(fields[1])
	p.PGID, _ = strconv.Atoi(fields[2])
	if len(fields) > 19 {
		p.StartTicks, _ = strconv.ParseUint(fields[19], 10, 64)
	}
	if trimmed := strings.TrimRight(string(cmdline), "\x00"); trimmed != "" {
		p.Args = strings.Split(trimmed, "\x00")
	}
	return p, true
}

// Running says whether the process exists and is not a zombie.
func Running(pid int) bool {
	p, ok := Get(pid)
	return ok && p.State != "Z"
}

// StillRunning says whether the process that had pid and started at
// startTicks still runs (not a zombie): a PID reused by another process
// does not count.
func StillRunning(pid int, startTicks uint64) bool {
	p, ok := Get(pid)
	return ok && p.State != "Z" && p.StartTicks == startTicks
}

// Environ returns the process's environment, empty when it cannot be read.
func Environ(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}
