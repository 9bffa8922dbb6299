package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/google/shlex"

	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// nodeOptions are Pulumi.yaml's `runtime.options` for nodejs (and PulumiPolicy.yaml's / PulumiPlugin.yaml's).
type nodeOptions struct {
	typescript     bool   // typescript: run through ts-node (default true); repave sets false, Node 24 strips types
	tsconfig       string // tsconfig: path handed to ts-node
	nodeargs       string // nodeargs: extra arguments for the node process, shell-quoted
	packagemanager npm.PackageManagerType
	production     bool // production: skip devDependencies on install
}

// parseOptions reads the options with the same types and defaults as Pulumi's own host: a wrongly typed option is an
// error, not a silent default.
func parseOptions(info *pulumirpc.ProgramInfo) (nodeOptions, error) {
	opts := nodeOptions{typescript: true, packagemanager: npm.AutoPackageManager}
	raw := map[string]any{}
	if info != nil && info.GetOptions() != nil {
		raw = info.GetOptions().AsMap()
	}
	if v, ok := raw["typescript"]; ok {
		b, ok := v.(bool)
		if !ok {
			return opts, errors.New("typescript option must be a boolean")
		}
		opts.typescript = b
	}
	if v, ok := raw["tsconfig"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("tsconfig option must be a string")
		}
		opts.tsconfig = s
	}
	if v, ok := raw["nodeargs"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("nodeargs option must be a string")
		}
		opts.nodeargs = s
	}
	if v, ok := raw["production"]; ok {
		b, ok := v.(bool)
		if !ok {
			return opts, errors.New("production option must be a boolean")
		}
		opts.production = b
	}
	if v, ok := raw["packagemanager"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("packagemanager option must be a string")
		}
		switch pm := npm.PackageManagerType(s); pm {
		case npm.AutoPackageManager, npm.NpmPackageManager, npm.YarnPackageManager, npm.PnpmPackageManager,
			npm.BunPackageManager:
			opts.packagemanager = pm
		default:
			return opts, fmt.Errorf("packagemanager option must be one of auto, npm, yarn, pnpm or bun, got %q", s)
		}
	}
	return opts, nil
}

// nodeArgs splits the nodeargs option the way a POSIX shell would (quotes, escapes), as Pulumi's host does.
func (o nodeOptions) nodeArgs() ([]string, error) {
	args, err := shlex.Split(o.nodeargs)
	if err != nil {
		return nil, fmt.Errorf("nodeargs option %q: %w", o.nodeargs, err)
	}
	return args, nil
}

// env is what the options add to node's environment. PULUMI_NODEJS_TYPESCRIPT is always set, so an inherited value
// cannot turn ts-node on for a project that turned it off.
func (o nodeOptions) env() []string {
	env := []string{fmt.Sprintf("PULUMI_NODEJS_TYPESCRIPT=%t", o.typescript)}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// nodeExecutable is REPAVE_NODE when set, else `node` from PATH (npm scripts put the pinned Node 24 first).
func nodeExecutable() (string, error) {
	if n := os.Getenv("REPAVE_NODE"); n != "" {
		return n, nil
	}
	path, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	return path, nil
}

// locateScript asks node itself to resolve request from dir, so the program's own @pulumi/pulumi is used with Node's
// full resolution rules (exports maps, symlinked node_modules, NODE_PATH), never a copy of ours.
const locateScript = `const [request, hint] = process.argv.slice(1);
try { console.log(require.resolve(request)); } catch (e) {
  console.error(e && e.code === "MODULE_NOT_FOUND" ?
    "It looks like the Pulumi SDK has not been installed. Have you run " + hint + "?" : String(e && e.message));
  process.exit(1);
}`

func locateModule(ctx context.Context, node, request, dir string, isPlugin bool) (string, error) {
	hint := "pulumi install"
	if isPlugin {
		hint = "npm install in " + dir
	}
	// Single line: some node shims (Volta on Windows) mangle multi-line -e arguments.
	cmd := exec.CommandContext(ctx, node, "-e", strings.ReplaceAll(locateScript, "\n", " "), request, hint)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && len(exitErr.Stderr) > 0 {
			return "", errors.New(strings.TrimSpace(string(exitErr.Stderr)))
		}
		return "", fmt.Errorf("resolving %s from %s with %s: %w", request, dir, node, err)
	}
	return strings.TrimSpace(string(out)), nil
}
