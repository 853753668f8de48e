// Command kustodian-sandbox runs one program (kustomize) inside a Landlock domain: the kernel then refuses it
// every file outside the paths it is given and every TCP connection outside the ports it is given, whatever a
// repository makes it try. Kustodian's path resolver is the first fence (it refuses hostile references with a
// clear error); this is the second, for whatever the resolver does not know about: the ServiceAccount token,
// other tenants' build directories, the artifact storage and the cloud metadata address stay out of reach.
//
// Landlock is unprivileged: no capability, no user namespace and no setuid is needed, so it works in a pod that
// runs as non-root with a read-only root filesystem and no capabilities.
//
//	kustodian-sandbox probe
//	    prints the kernel's Landlock ABI version (0: unavailable) and exits 0
//	kustodian-sandbox run [--ro PATH]... [--rw PATH]... [--rx PATH]... [--connect PORT]... [--min-abi N] -- PROGRAM ARG...
//	    restricts itself, then executes PROGRAM (an absolute path) with the given arguments and environment
//
// Exit status 125 means the sandbox itself failed (bad arguments, Landlock below --min-abi, a rule that could
// not be added); anything else is PROGRAM's own.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

const sandboxFailed = 125

type request struct {
	ro, rw, rx []string
	ports      []uint16
	minABI     int
	program    string
	args       []string
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "kustodian-sandbox: "+format+"\n", a...)
	os.Exit(sandboxFailed)
}

func abi() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

func parse(argv []string) (request, error) {
	r := request{minABI: 1}
	for i := 0; i < len(argv); i++ {
		flag := argv[i]
		if flag == "--" {
			if i+1 >= len(argv) {
				return r, errors.New("no program after --")
			}
			r.program, r.args = argv[i+1], argv[i+1:]
			if !filepath.IsAbs(r.program) {
				return r, fmt.Errorf("program %q must be an absolute path", r.program)
			}
			return r, nil
		}
		if i+1 >= len(argv) {
			return r, fmt.Errorf("%s needs a value", flag)
		}
		value := argv[i+1]
		i++
		switch flag {
		case "--ro":
			r.ro = append(r.ro, value)
		case "--rw":
			r.rw = append(r.rw, value)
		case "--rx":
			r.rx = append(r.rx, value)
		case "--connect":
			p, err := strconv.ParseUint(value, 10, 16)
			if err != nil || p == 0 {
				return r, fmt.Errorf("--connect: %q is not a TCP port", value)
			}
			r.ports = append(r.ports, uint16(p))
		case "--min-abi":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return r, fmt.Errorf("--min-abi: %q is not a positive integer", value)
			}
			r.minABI = n
		default:
			return r, fmt.Errorf("unknown flag %s", flag)
		}
	}
	return r, errors.New("missing -- PROGRAM")
}

// isDir decides between the directory and the file form of a rule: Landlock refuses directory-only rights
// (read dir, make, remove) on a regular file.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func rules(r request) []landlock.Rule {
	var out []landlock.Rule
	add := func(paths []string, dir func(...string) landlock.FSRule, file func(...string) landlock.FSRule) {
		for _, p := range paths {
			if isDir(p) {
				out = append(out, dir(p))
			} else {
				out = append(out, file(p))
			}
		}
	}
	add(r.ro, landlock.RODirs, landlock.ROFiles)
	add(r.rw, landlock.RWDirs, landlock.RWFiles)
	execDir := func(paths ...string) landlock.FSRule {
		return landlock.PathAccess(landlock.AccessFSSet(llsys.AccessFSExecute|llsys.AccessFSReadFile|llsys.AccessFSReadDir), paths...)
	}
	execFile := func(paths ...string) landlock.FSRule {
		return landlock.PathAccess(landlock.AccessFSSet(llsys.AccessFSExecute|llsys.AccessFSReadFile), paths...)
	}
	add(r.rx, execDir, execFile)
	for _, port := range r.ports {
		out = append(out, landlock.ConnectTCP(port))
		// DNS: name lookups for the hosts of remote bases go over UDP (and TCP) port 53.
		if port == 53 {
			out = append(out, landlock.ConnectSendUDP(53))
		}
	}
	return out
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "probe" {
		fmt.Println(abi())
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fail("usage: kustodian-sandbox probe | run [--ro P]... [--rw P]... [--rx P]... [--connect PORT]... [--min-abi N] -- PROGRAM ARG...")
	}
	r, err := parse(os.Args[2:])
	if err != nil {
		fail("%v", err)
	}
	if v := abi(); v < r.minABI {
		fail("Landlock ABI %d is below the required %d (kernel without Landlock, or Landlock not in the LSM list)", v, r.minABI)
	}
	// The newest ABI this library knows, degraded to what the kernel offers: every right the kernel can
	// restrict is restricted (network from ABI 4, IPC scopes from ABI 6, UDP from ABI 10).
	if err := landlock.V11.BestEffort().Restrict(rules(r)...); err != nil {
		fail("restricting: %v", err)
	}
	if err := syscall.Exec(r.program, r.args, os.Environ()); err != nil {
		fail("exec %s: %v", r.program, err)
	}
}
