// Command pulumi-language-nodejs is repave's Node.js language host for the Pulumi engine.
//
// Why it exists: Pulumi's own host lives in a nested Go module with no version tags, and the module proxy this
// project can reach does not serve it at any commit (see engine/README.md). The engine (CLI, deployment engine,
// state, providers) is the real one built from pkg/v3; this host keeps to the contract of Pulumi's own host for
// everything a user of a Node.js program can observe: it starts @pulumi/pulumi's own entry points (cmd/run,
// cmd/run-policy-pack, cmd/run-plugin), reports the packages the program requires from node_modules so the engine
// installs their plugins, installs dependencies for `pulumi install`, passes policy packs the stack's configuration,
// honours the runtime options, and interrupts node gracefully when the engine cancels. engine/README.md lists what
// it leaves out (code generation, debugging, synchronous invokes) and why.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// version is stamped by build-engine.sh with the engine release it was built beside.
var version = "dev"

// exitAfterReportedError is the exit code @pulumi/pulumi's entry points use when the program failed and the error
// has already been shown to the user: the engine must not print a second, generic message.
const exitAfterReportedError = 32

const (
	defaultRunPath    = "@pulumi/pulumi/cmd/run"
	pluginRunPath     = "@pulumi/pulumi/cmd/run-plugin"
	policyPackRunPath = "@pulumi/pulumi/cmd/run-policy-pack"
	// runPathOverride replaces cmd/run (and cmd/run-plugin) with another script, as in Pulumi's host (for tests).
	runPathOverride = "PULUMI_LANGUAGE_NODEJS_RUN_PATH"
)

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	tracing       string

	// cancelCtx is cancelled by the engine's Cancel RPC: every running program is interrupted.
	cancelCtx  context.Context
	cancelFunc context.CancelFunc
	// shutdown stops serving (SIGINT to this process, or the engine no longer answering health checks).
	shutdown context.CancelFunc
}

func newHost(engineAddress, tracing string, shutdown context.CancelFunc) *host {
	ctx, cancel := context.WithCancel(context.Background())
	return &host{engineAddress: engineAddress, tracing: tracing, cancelCtx: ctx, cancelFunc: cancel, shutdown: shutdown}
}

// hostFlags are the arguments the engine passes: logging and tracing flags, then the engine's address (last).
type hostFlags struct {
	engineAddress string
	tracing       string
	verbose       int
	logToStderr   bool
	showVersion   bool
}

func parseHostFlags(args []string) hostFlags {
	var f hostFlags
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			f.engineAddress = arg
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch name {
		case "tracing":
			if !hasValue && i+1 < len(args) {
				i++
				value = args[i]
			}
			f.tracing = value
		case "v":
			f.verbose, _ = strconv.Atoi(value)
		case "logtostderr":
			f.logToStderr = !hasValue || value == "true"
		case "version":
			f.showVersion = true
		}
	}
	return f
}

func main() {
	flags := parseHostFlags(os.Args[1:])
	if flags.showVersion {
		fmt.Println(version)
		return
	}
	logging.InitLogging(flags.logToStderr, flags.verbose, false)

	// SIGINT (the engine interrupts its plugins' process groups on shutdown) stops serving once in-flight calls end.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	stopServing := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(stopServing)
	}()
	if flags.engineAddress != "" {
		// An engine that was killed leaves no one to close us: stop when it stops answering.
		if err := rpcutil.Healthcheck(ctx, flags.engineAddress, 5*time.Minute, stop); err != nil {
			fmt.Fprintf(os.Stderr, "fatal: could not start health check: %v\n", err)
			os.Exit(1)
		}
	}

	h := newHost(flags.engineAddress, flags.tracing, stop)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stopServing,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	if h.engineAddress != "" && h.shutdown != nil {
		if err := rpcutil.Healthcheck(context.Background(), h.engineAddress, 5*time.Minute, h.shutdown); err != nil {
			return nil, fmt.Errorf("could not start health check: %w", err)
		}
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// Cancel interrupts every running program (SIGINT, then SIGKILL after gracePeriod).
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelFunc()
	return &emptypb.Empty{}, nil
}

// programDirectory is where the program (or plugin) lives: ProgramInfo's directory, else the request's pwd.
func programDirectory(info *pulumirpc.ProgramInfo, pwd string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	return pwd
}

// GetRequiredPackages reports the resource packages installed in the program's node_modules (see packages.go);
// the engine installs their plugins before a deployment and pins default providers to their versions.
func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	d := h.discover(programDirectory(req.GetInfo(), ""))
	return &pulumirpc.GetRequiredPackagesResponse{Packages: d.packages}, nil
}

// GetRequiredPlugins is the same answer for engines that predate packages: the plugins under the packages.
func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	d := h.discover(programDirectory(req.GetInfo(), req.GetPwd()))
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: d.plugins()}, nil
}

func (h *host) discover(dir string) *discovery {
	if dir == "" {
		dir = "."
	}
	start := time.Now()
	d := discoverPackages(dir)
	if msg := d.sdkConflict(); msg != "" {
		fmt.Fprint(os.Stderr, msg)
	}
	for _, err := range d.problems {
		logging.V(3).Infof("discovering required packages: %v", err)
	}
	for _, p := range d.packages {
		logging.V(5).Infof("required package: %s %s (server %q)", p.GetName(), p.GetVersion(), p.GetServer())
	}
	logging.V(5).Infof("discovered %d required packages in %s (%d package.json files, %d directories, %v)",
		len(d.packages), dir, d.manifestCount, len(d.visitedDirs), time.Since(start))
	return d
}

// InstallDependencies installs the program's (or plugin's) node_modules with its package manager, streaming the
// package manager's output; `pulumi install` then installs the plugins GetRequiredPackages reports.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(&installStream{ServerStreamingServer: server}, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()

	opts, err := parseOptions(req.GetInfo())
	if err != nil {
		return fmt.Errorf("failed to parse options: %w", err)
	}
	dir := programDirectory(req.GetInfo(), req.GetDirectory())
	fmt.Fprint(stdout, "Installing dependencies...\n\n")
	root := dir
	if ws, err := npm.FindWorkspaceRoot(dir); err == nil {
		fmt.Fprintf(stdout, "Detected workspace root at %s\n", ws)
		root = ws
	} else if !errors.Is(err, npm.ErrNotInWorkspace) {
		return fmt.Errorf("failure while trying to find workspace root: %w", err)
	}
	if _, err := npm.Install(server.Context(), opts.packagemanager, root, opts.production, stdout, stderr); err != nil {
		return fmt.Errorf("installing dependencies in %s: %w", root, err)
	}
	fmt.Fprint(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := parseOptions(req.GetInfo())
	if err != nil {
		return nil, fmt.Errorf("failed to parse options: %w", err)
	}
	dir := programDirectory(req.GetInfo(), req.GetPwd())
	pm, err := npm.ResolvePackageManager(opts.packagemanager, dir)
	if err != nil {
		return nil, fmt.Errorf("failed to determine package manager: %w", err)
	}
	packages, err := pm.ListPackages(ctx, dir, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get node dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(packages))
	for _, p := range packages {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := nodeExecutable()
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.AboutResponse{Executable: node, Metadata: map[string]string{}}
	if out, err := exec.CommandContext(ctx, node, "--version").Output(); err == nil {
		resp.Version = strings.TrimSpace(string(out))
	}
	dir := programDirectory(req.GetInfo(), "")
	if opts, err := parseOptions(req.GetInfo()); err == nil && dir != "" {
		if pm, err := npm.ResolvePackageManager(opts.packagemanager, dir); err == nil {
			resp.Metadata["packagemanager"] = pm.Name()
			if v, err := pm.Version(); err == nil {
				resp.Metadata["packagemanagerVersion"] = v.String()
			}
		}
		ts := exec.CommandContext(ctx, node, "-e", "console.log(require('typescript/package.json').version)")
		ts.Dir = dir
		if out, err := ts.Output(); err == nil {
			resp.Metadata["typescriptVersion"] = strings.TrimSpace(string(out))
		}
	}
	return resp, nil
}

// errNoDebugger: attaching a debugger needs the engine's StartDebugging handshake, which this host does not do.
var errNoDebugger = errors.New("repave's Node.js language host cannot attach a debugger " +
	"(--attach-debugger); use Pulumi's own pulumi-language-nodejs for that")

// Run runs the program: node [nodeargs] @pulumi/pulumi/cmd/run [flags] <entry point> [args].
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	fail := func(err error) (*pulumirpc.RunResponse, error) {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	info := req.GetInfo()
	dir := programDirectory(info, req.GetPwd())
	opts, err := parseOptions(info)
	if err != nil {
		return fail(err)
	}
	if req.GetAttachDebugger() {
		return fail(errNoDebugger)
	}
	node, err := nodeExecutable()
	if err != nil {
		return fail(err)
	}
	runPath := os.Getenv(runPathOverride)
	if runPath == "" {
		runPath = defaultRunPath
	}
	script, err := locateModule(ctx, node, runPath, dir, false)
	if err != nil {
		return fail(err)
	}
	nodeArgs, err := opts.nodeArgs()
	if err != nil {
		return fail(err)
	}
	args := append(nodeArgs, h.runArguments(req, script, dir)...)
	cfg, err := configEnv(req.GetConfig())
	if err != nil {
		return fail(fmt.Errorf("failed to serialize configuration: %w", err))
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return fail(fmt.Errorf("failed to serialize configuration secret keys: %w", err))
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+cfg, "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	env = append(env, opts.env()...)

	// Interrupt node when the engine cancels (Cancel RPC) or abandons the call.
	runCtx, cancel := context.WithCancel(h.cancelCtx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()

	cmd := gracefulCommand(runCtx, node, args...)
	cmd.Dir = dir
	cmd.Env = env
	// Node may switch its stdio to non-blocking mode; handing it our own descriptors would make our later writes fail
	// with EAGAIN. Wrapping them makes exec copy through pipes instead.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	stderr := &oomWatch{w: os.Stderr}
	cmd.Stderr = stderr
	logging.V(5).Infof("language host launching: %s", cmd)
	return runResponse(cmd.Run(), runCtx, stderr.sawOOM()), nil
}

// runArguments are the arguments after node's own: @pulumi/pulumi's cmd/run, its flags, the entry point, then the
// program's arguments. Flags with empty values are left out.
func (h *host) runArguments(req *pulumirpc.RunRequest, script, dir string) []string {
	args := []string{script}
	flag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", h.engineAddress)
	flag("organization", req.GetOrganization())
	flag("project", req.GetProject())
	flag("root-directory", req.GetInfo().GetRootDirectory())
	flag("stack", req.GetStack())
	flag("pwd", dir)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	flag("tracing", h.tracing)
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = req.GetProgram()
	}
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	return append(args, req.GetArgs()...)
}

// configEnv serializes the stack's configuration for PULUMI_CONFIG with keys in the `<namespace>:config:<name>`
// form older @pulumi/pulumi releases expect (current ones read both forms).
func configEnv(cfg map[string]string) (string, error) {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		key, err := config.ParseKey(k)
		if err != nil {
			return "", err
		}
		out[key.Namespace()+":config:"+key.Name()] = v
	}
	data, err := json.Marshal(out)
	return string(data), err
}

// runResponse maps how node ended to the engine's answer.
func runResponse(err error, runCtx context.Context, oom bool) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	// Flush what node wrote before the engine prints its verdict.
	_ = os.Stdout.Sync()
	_ = os.Stderr.Sync()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code := exitErr.ExitCode()
		switch {
		case code == exitAfterReportedError:
			return &pulumirpc.RunResponse{Bail: true}
		case code == -1:
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program was terminated by signal %v", status.Signal())}
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", err)}
		case oom:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d. %s", code, oomAdvice)}
		default:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}
		}
	}
	if runCtx.Err() != nil {
		// Node finished cleanly after SIGINT: the run still did not complete.
		return &pulumirpc.RunResponse{Error: "Program was cancelled"}
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}
}

// RunPlugin runs a plugin written in Node.js: a policy pack (kind "analyzer") through @pulumi/pulumi's
// cmd/run-policy-pack, anything else through cmd/run-plugin. Output and exit code stream back to the engine.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]) error {
	ctx := server.Context()
	info := req.GetInfo()
	dir := programDirectory(info, req.GetPwd())
	analyzer := req.GetKind() == string(apitype.AnalyzerPlugin)
	opts, err := parseOptions(info)
	if err != nil {
		return err
	}
	if req.GetAttachDebugger() {
		return errNoDebugger
	}
	node, err := nodeExecutable()
	if err != nil {
		return err
	}
	runPath := policyPackRunPath
	if !analyzer {
		if runPath = os.Getenv(runPathOverride); runPath == "" {
			runPath = pluginRunPath
		}
	}
	script, err := locateModule(ctx, node, runPath, dir, true)
	if err != nil {
		return err
	}
	nodeArgs, err := opts.nodeArgs()
	if err != nil {
		return err
	}
	args := pluginArguments(nodeArgs, script, req.GetArgs(), dir, analyzer)

	// The engine sends the complete environment (its own plus the plugin's); fall back to ours if it sent none.
	env := append([]string(nil), req.GetEnv()...)
	if len(env) == 0 {
		env = os.Environ()
	}
	env = append(env, opts.env()...)

	stream := &pluginStream{server: server}
	cmd := gracefulCommand(ctx, node, args...)
	cmd.Stderr = stream.stderr()
	cmd.Dir = req.GetPwd()
	var runErr error
	if analyzer {
		// Policy packs always ran in their own directory.
		cmd.Dir = dir
		runErr = runPolicyPack(ctx, cmd, env, stream.stdout())
	} else {
		cmd.Env = env
		cmd.Stdout = stream.stdout()
		runErr = cmd.Run()
	}
	code, err := pluginExitCode(ctx, runErr, cmd)
	if err != nil {
		return err
	}
	return stream.exit(code)
}

// pluginArguments: node's own arguments first, then the entry point script; cmd/run-policy-pack takes the plugin's
// arguments (ending with the engine's address) before the pack's directory, cmd/run-plugin the plugin's directory
// first, then its arguments (which it hands to the plugin as process.argv).
func pluginArguments(nodeArgs []string, script string, pluginArgs []string, dir string, analyzer bool) []string {
	args := append(append([]string(nil), nodeArgs...), script)
	if analyzer {
		args = append(args, pluginArgs...)
		return append(args, dir)
	}
	args = append(args, dir)
	return append(args, pluginArgs...)
}

// runPolicyPack starts a policy pack behind the SDK's policy proxy: the engine talks to the proxy first (Handshake,
// then ConfigureStack with the stack's organization, project, stack, dry-run flag and configuration), and only then
// is node started, with that configuration in the environment variables @pulumi/pulumi reads at start-up
// (PULUMI_NODEJS_ORGANIZATION/PROJECT/STACK/DRY_RUN and PULUMI_CONFIG), so `new pulumi.Config()`, getStack() and
// getProject() work inside policies. The proxy then forwards every call to the pack.
func runPolicyPack(ctx context.Context, cmd *exec.Cmd, env []string, stdout io.Writer) error {
	proxy, packStdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start policy pack proxy: %w", err)
	}
	stackConfig, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("could not get stack configuration: %w", err)
	}
	extra, err := policyPackEnv(stackConfig)
	if err != nil {
		return err
	}
	cmd.Env = append(env, extra...)
	cmd.Stdout = packStdout
	logging.V(5).Infof("language host launching policy pack: %s", cmd)
	if err := cmd.Start(); err != nil {
		proxy.Abort(err)
		return err
	}
	return proxy.Attach(ctx, cmd)
}

// policyPackEnv is the stack configuration as the environment of a Node.js policy pack (nothing for `pulumi policy
// publish`, which configures no stack).
func policyPackEnv(c *pulumirpc.AnalyzerStackConfigureRequest) ([]string, error) {
	if c == nil {
		return nil, nil
	}
	var env []string
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("PULUMI_NODEJS_ORGANIZATION", c.GetOrganization())
	add("PULUMI_NODEJS_PROJECT", c.GetProject())
	add("PULUMI_NODEJS_STACK", c.GetStack())
	add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(c.GetDryRun()))
	if c.GetConfig() != nil {
		data, err := json.Marshal(c.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("could not marshal stack configuration: %w", err)
		}
		add("PULUMI_CONFIG", string(data))
	}
	return env, nil
}

// pluginExitCode is the exit code to report for a plugin that ended with err.
func pluginExitCode(ctx context.Context, err error, cmd *exec.Cmd) (int32, error) {
	if err == nil {
		return 0, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return int32(exitErr.ExitCode()), nil
	}
	if ctx.Err() != nil {
		// The engine closed the plugin; node is being interrupted and nobody is listening for its exit code.
		return 0, ctx.Err()
	}
	if cmd.ProcessState != nil {
		// Node ran and ended (for a policy pack, possibly before it printed its port).
		return int32(cmd.ProcessState.ExitCode()), nil
	}
	return 0, fmt.Errorf("problem executing plugin program (could not run language executor): %w", err)
}
