// Command capdrop-runc is an OCI runtime for a machine that withholds capabilities from its root user (here
// CAP_SYS_RESOURCE: CapBnd 000001fffeffffff). It edits what runc is asked to do so that it asks for nothing
// the machine withholds, then execs the real runc (the next `runc` on PATH) with the same arguments:
//   - Docker asks for every capability for a --privileged container, and runc then fails with "unable to
//     apply caps: operation not permitted" (kind starts every node --privileged): each capability outside
//     this process's bounding set is removed from the container's config.json (create, run) or from the
//     --process file (exec);
//   - without CAP_SYS_RESOURCE no process may lower its oom_score_adj, and the kubelet asks for -998 for
//     every pod sandbox ("nsexec: failed to update /proc/self/oom_score_adj: Permission denied"): a
//     requested oomScoreAdj below this process's own is raised to it (it only ranks pods for the OOM killer).
//
// Docker uses it through `dockerd --add-runtime NAME=PATH --default-runtime NAME`; a kind node built by
// testbed/build on such a machine has it as /usr/local/sbin/runc, in front of the real one.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capabilityNames are the Linux capabilities by number (include/uapi/linux/capability.h).
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// runcFlagsWithValue are runc's global flags that take a separate value (runc main.go).
var runcFlagsWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// hasSysResource: whether the bounding set has CAP_SYS_RESOURCE (set by withheldCapabilities).
var hasSysResource = true

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "capdrop-runc: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	withheld, err := withheldCapabilities()
	if err != nil {
		return err
	}
	floor, err := ownOOMScoreAdj()
	if err != nil {
		return err
	}
	if err := restrict(args, func(process map[string]any) {
		removeCapabilities(process, withheld)
		raiseOOMScoreAdj(process, floor)
	}); err != nil {
		return err
	}
	runc, err := realRunc()
	if err != nil {
		return err
	}
	return syscall.Exec(runc, append([]string{"runc"}, args...), os.Environ())
}

// realRunc is the first `runc` on PATH that is not this program.
func realRunc() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	selfInfo, err := os.Stat(self)
	if err != nil {
		return "", err
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		candidate := filepath.Join(dir, "runc")
		info, err := os.Stat(candidate)
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 || os.SameFile(info, selfInfo) {
			continue
		}
		return candidate, nil
	}
	return "", fmt.Errorf("no runc on PATH besides %s", self)
}

// withheldCapabilities names the capabilities missing from this process's bounding set.
func withheldCapabilities() (map[string]bool, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		hex, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bounding, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("unreadable CapBnd %q: %w", hex, err)
		}
		withheld := map[string]bool{}
		for bit, name := range capabilityNames {
			if bounding&(1<<bit) == 0 {
				withheld[name] = true
			}
		}
		hasSysResource = !withheld["CAP_SYS_RESOURCE"]
		return withheld, nil
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// restrict edits the process the runc subcommand in args will start: the container's (config.json of the
// bundle) or an exec's (the --process file).
func restrict(args []string, edit func(process map[string]any)) error {
	command, rest := subcommand(args)
	switch command {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return editJSON(filepath.Join(bundle, "config.json"), func(doc map[string]any) {
			if process, ok := doc["process"].(map[string]any); ok {
				edit(process)
			}
		})
	case "exec":
		if file := flagValue(rest, "--process", "-p"); file != "" {
			return editJSON(file, edit)
		}
	}
	return nil
}

func ownOOMScoreAdj() (int, error) {
	text, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(text)))
}

// raiseOOMScoreAdj applies only without CAP_SYS_RESOURCE: with it, runc can lower the value as asked.
func raiseOOMScoreAdj(process map[string]any, floor int) {
	if hasSysResource {
		return
	}
	if value, ok := process["oomScoreAdj"].(float64); ok && int(value) < floor {
		process["oomScoreAdj"] = floor
	}
}

func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return arg, args[i+1:]
		}
		if runcFlagsWithValue[arg] {
			i++
		}
	}
	return "", nil
}

func flagValue(args []string, long, short string) string {
	for i, arg := range args {
		if (arg == long || arg == short) && i+1 < len(args) {
			return args[i+1]
		}
		if value, ok := strings.CutPrefix(arg, long+"="); ok {
			return value
		}
	}
	return ""
}

func removeCapabilities(process map[string]any, withheld map[string]bool) {
	if len(withheld) == 0 {
		return
	}
	sets, ok := process["capabilities"].(map[string]any)
	if !ok {
		return
	}
	for set, value := range sets {
		list, ok := value.([]any)
		if !ok {
			continue
		}
		kept := []any{}
		for _, capability := range list {
			if name, ok := capability.(string); !ok || !withheld[name] {
				kept = append(kept, capability)
			}
		}
		sets[set] = kept
	}
}

func editJSON(path string, edit func(map[string]any)) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := map[string]any{}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}
