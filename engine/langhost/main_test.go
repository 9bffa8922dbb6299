package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// ---------------------------------------------------------------------------------------------------------------
// helpers

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(data))
}

func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH")
	}
}

func options(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeStream is the server side of a server-streaming call, as the engine's client would see it.
type fakeStream[T any] struct {
	grpc.ServerStream
	ctx    context.Context
	mu     sync.Mutex
	sent   []*T
	onSend func(*T)
}

func (s *fakeStream[T]) Context() context.Context { return s.ctx }

func (s *fakeStream[T]) Send(m *T) error {
	// Like gRPC, take the message as it is now: senders may reuse the bytes afterwards.
	m = proto.Clone(any(m).(proto.Message)).(any).(*T)
	s.mu.Lock()
	s.sent = append(s.sent, m)
	s.mu.Unlock()
	if s.onSend != nil {
		s.onSend(m)
	}
	return nil
}

func (s *fakeStream[T]) messages() []*T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*T(nil), s.sent...)
}

// record is what the fake node entry points below write about how they were started.
type record struct {
	ExecArgv []string          `json:"execArgv"`
	Argv     []string          `json:"argv"`
	Cwd      string            `json:"cwd"`
	Env      map[string]string `json:"env"`
}

// recorderJS writes a record to $RECORD, then behaves as $BEHAVIOUR says: "exit:<code>", "trap" (on SIGINT write
// $MARKER and exit 0), "ignore" (on SIGINT write $MARKER and keep running), "serve" (print $PACK_PORT as a policy
// pack would its port, then wait for SIGINT like "trap").
const recorderJS = `const fs = require("fs");
const env = {};
for (const k of Object.keys(process.env)) if (k.startsWith("PULUMI_")) env[k] = process.env[k];
fs.writeFileSync(process.env.RECORD, JSON.stringify({ execArgv: process.execArgv, argv: process.argv.slice(2), cwd: process.cwd(), env }));
const behaviour = process.env.BEHAVIOUR || "exit:0";
if (behaviour.startsWith("exit:")) process.exit(Number(behaviour.slice(5)));
process.on("SIGINT", () => {
  fs.writeFileSync(process.env.MARKER, behaviour === "ignore" ? "ignored SIGINT" : "finished after SIGINT");
  if (behaviour !== "ignore") process.exit(0);
});
if (behaviour === "serve") console.log(process.env.PACK_PORT);
fs.writeFileSync(process.env.RECORD + ".ready", "ready");
setInterval(() => {}, 1000);
`

func readRecord(t *testing.T, path string) record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the entry point left no record: %v", err)
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func waitForFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within %v", path, within)
}

// ---------------------------------------------------------------------------------------------------------------
// package discovery

func TestGetRequiredPackagesFromNodeModules(t *testing.T) {
	root := t.TempDir()
	prog := filepath.Join(root, "prog")
	nm := filepath.Join(prog, "node_modules")

	// The program's own package.json is not an installed package, whatever it says.
	writeJSON(t, filepath.Join(prog, "package.json"), map[string]any{
		"name": "@pulumi/prog", "version": "1.0.0", "pulumi": map[string]any{"resource": true}})
	// @pulumi-scoped package: plugin name from the package name, version from the package version.
	writeJSON(t, filepath.Join(nm, "@pulumi", "aws", "package.json"), map[string]any{
		"name": "@pulumi/aws", "version": "7.1.0", "pulumi": map[string]any{"resource": true, "name": "aws"}})
	// pulumi.name / pulumi.version / pulumi.server win over the package's own name and version.
	writeJSON(t, filepath.Join(nm, "@pulumi", "random", "package.json"), map[string]any{
		"name": "@pulumi/random", "version": "9.9.9",
		"pulumi": map[string]any{"resource": true, "name": "random", "version": "v4.2.0", "server": "https://example.test/releases"}})
	// A third-party package names its plugin.
	writeJSON(t, filepath.Join(nm, "@acme", "widgets", "package.json"), map[string]any{
		"name": "@acme/widgets", "version": "0.5.0", "pulumi": map[string]any{"resource": true, "name": "acme-widgets"}})
	// A third-party package that does not is skipped (upstream reports it as an error and goes on).
	writeJSON(t, filepath.Join(nm, "@acme", "nameless", "package.json"), map[string]any{
		"name": "@acme/nameless", "version": "0.1.0", "pulumi": map[string]any{"resource": true}})
	// A parameterized package (replacement) and an extension: value is base64 in package.json.
	writeJSON(t, filepath.Join(nm, "@acme", "tf-null", "package.json"), map[string]any{
		"name": "@acme/tf-null", "version": "0.0.1", "pulumi": map[string]any{
			"resource": true, "name": "terraform-provider", "version": "0.3.0",
			"parameterization": map[string]any{"name": "null", "version": "3.2.1", "value": "eyJ4IjoxfQ=="}}})
	writeJSON(t, filepath.Join(nm, "@acme", "aws-extras", "package.json"), map[string]any{
		"name": "@acme/aws-extras", "version": "1.0.0", "pulumi": map[string]any{
			"resource": true, "name": "aws", "version": "7.1.0",
			"extensionParameterization": map[string]any{"name": "aws-extras", "version": "1.0.0", "value": "AQI="}}})
	// Not resource packages: the SDK, a plain library, a package that says resource: false.
	writeJSON(t, filepath.Join(nm, "@pulumi", "pulumi", "package.json"), map[string]any{
		"name": "@pulumi/pulumi", "version": "3.270.0"})
	writeJSON(t, filepath.Join(nm, "lodash", "package.json"), map[string]any{"name": "lodash", "version": "4.17.21"})
	writeJSON(t, filepath.Join(nm, "@pulumi", "policy", "package.json"), map[string]any{
		"name": "@pulumi/policy", "version": "1.21.0", "pulumi": map[string]any{"resource": false}})
	// Nested node_modules: a second copy of aws at the same version (deduplicated), another aws version (kept), and
	// kubernetes only found there.
	writeJSON(t, filepath.Join(nm, "some-lib", "package.json"), map[string]any{"name": "some-lib", "version": "1.0.0"})
	writeJSON(t, filepath.Join(nm, "some-lib", "node_modules", "@pulumi", "aws", "package.json"), map[string]any{
		"name": "@pulumi/aws", "version": "7.1.0", "pulumi": map[string]any{"resource": true, "name": "aws"}})
	writeJSON(t, filepath.Join(nm, "other-lib", "node_modules", "@pulumi", "aws", "package.json"), map[string]any{
		"name": "@pulumi/aws", "version": "6.66.0", "pulumi": map[string]any{"resource": true}})
	writeJSON(t, filepath.Join(nm, "some-lib", "node_modules", "@pulumi", "kubernetes", "package.json"), map[string]any{
		"name": "@pulumi/kubernetes", "version": "4.34.2", "pulumi": map[string]any{"resource": true, "name": "kubernetes"}})
	// A policy pack inside the program: its dependencies are not the program's.
	writeFile(t, filepath.Join(prog, "policy", "PulumiPolicy.yaml"), "runtime: nodejs\n")
	writeJSON(t, filepath.Join(prog, "policy", "node_modules", "@pulumi", "gcp", "package.json"), map[string]any{
		"name": "@pulumi/gcp", "version": "9.0.0", "pulumi": map[string]any{"resource": true}})
	// A package linked in from outside the program (npm link, workspaces) counts; a link back up does not loop.
	writeJSON(t, filepath.Join(root, "shared", "docker", "package.json"), map[string]any{
		"name": "@pulumi/docker", "version": "4.5.0", "pulumi": map[string]any{"resource": true}})
	if err := os.Symlink(filepath.Join(root, "shared", "docker"), filepath.Join(nm, "@pulumi", "docker")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nm, filepath.Join(nm, "loop")); err != nil {
		t.Fatal(err)
	}
	// A local package the program depends on by `file:` is linked into node_modules by npm; it is found even though
	// the walk meets its directory first as a plain directory of the program.
	writeJSON(t, filepath.Join(prog, "aaa-local-sdk", "package.json"), map[string]any{
		"name": "@pulumi/localthing", "version": "0.0.1", "pulumi": map[string]any{"resource": true}})
	if err := os.Symlink(filepath.Join(prog, "aaa-local-sdk"), filepath.Join(nm, "@pulumi", "localthing")); err != nil {
		t.Fatal(err)
	}
	// A dangling link is a problem, not a failure.
	if err := os.Symlink(filepath.Join(root, "missing"), filepath.Join(nm, "dangling")); err != nil {
		t.Fatal(err)
	}

	h := newHost("", "", nil)
	resp, err := h.GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
		Info: &pulumirpc.ProgramInfo{RootDirectory: prog, ProgramDirectory: prog, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	type pkg struct{ name, version, server, param, ext string }
	describe := func(p *pulumirpc.PackageParameterization) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf("%s@%s=%s", p.GetName(), p.GetVersion(), p.GetValue())
	}
	got := map[pkg]int{}
	for _, p := range resp.GetPackages() {
		if p.GetKind() != "resource" {
			t.Errorf("%s: kind %q, want resource", p.GetName(), p.GetKind())
		}
		got[pkg{p.GetName(), p.GetVersion(), p.GetServer(), describe(p.GetParameterization()), describe(p.GetExtension())}]++
	}
	want := map[pkg]int{
		{"aws", "v7.1.0", "", "", ""}:                                  1,
		{"aws", "v6.66.0", "", "", ""}:                                 1,
		{"random", "v4.2.0", "https://example.test/releases", "", ""}:  1,
		{"acme-widgets", "v0.5.0", "", "", ""}:                         1,
		{"terraform-provider", "v0.3.0", "", `null@3.2.1={"x":1}`, ""}: 1,
		{"aws", "v7.1.0", "", "", "aws-extras@1.0.0=\x01\x02"}:         1,
		{"kubernetes", "v4.34.2", "", "", ""}:                          1,
		{"docker", "v4.5.0", "", "", ""}:                               1,
		{"localthing", "v0.0.1", "", "", ""}:                           1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packages:\n got %v\nwant %v", got, want)
	}

	// Engines that predate packages ask for plugins: the same answer, one entry per plugin version and server.
	plugins, err := h.GetRequiredPlugins(context.Background(), &pulumirpc.GetRequiredPluginsRequest{
		Info: &pulumirpc.ProgramInfo{RootDirectory: prog, ProgramDirectory: prog, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range plugins.GetPlugins() {
		names = append(names, p.GetName()+"@"+p.GetVersion()+p.GetServer())
	}
	wantNames := []string{"acme-widgets@v0.5.0", "terraform-provider@v0.3.0", "aws@v7.1.0", "docker@v4.5.0",
		"random@v4.2.0https://example.test/releases", "aws@v6.66.0", "kubernetes@v4.34.2", "localthing@v0.0.1"}
	if !sameSet(names, wantNames) {
		t.Errorf("plugins: got %v, want %v", names, wantNames)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestIncompatiblePulumiSDKsAreReported(t *testing.T) {
	prog := t.TempDir()
	writeJSON(t, filepath.Join(prog, "node_modules", "@pulumi", "pulumi", "package.json"),
		map[string]any{"name": "@pulumi/pulumi", "version": "3.270.0"})
	writeJSON(t, filepath.Join(prog, "node_modules", "old", "node_modules", "@pulumi", "pulumi", "package.json"),
		map[string]any{"name": "@pulumi/pulumi", "version": "2.25.0"})
	if msg := discoverPackages(prog).sdkConflict(); !strings.Contains(msg, "Found incompatible versions of @pulumi/pulumi") {
		t.Errorf("no conflict reported for 3.x beside 2.x: %q", msg)
	}
	writeJSON(t, filepath.Join(prog, "node_modules", "old", "node_modules", "@pulumi", "pulumi", "package.json"),
		map[string]any{"name": "@pulumi/pulumi", "version": "3.100.0"})
	if msg := discoverPackages(prog).sdkConflict(); msg != "" {
		t.Errorf("3.270 and 3.100 reported as incompatible: %q", msg)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// options

func TestNodeArgsAreShellSplit(t *testing.T) {
	opts, err := parseOptions(&pulumirpc.ProgramInfo{Options: options(t, map[string]any{
		"nodeargs": `--max-old-space-size=4096 --require "./with space.js" --title='a b' --no\ warnings`,
	})})
	if err != nil {
		t.Fatal(err)
	}
	got, err := opts.nodeArgs()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--max-old-space-size=4096", "--require", "./with space.js", "--title=a b", "--no warnings"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodeargs: got %q, want %q", got, want)
	}

	if _, err := (nodeOptions{nodeargs: `--title="unterminated`}).nodeArgs(); err == nil {
		t.Error("an unterminated quote was accepted")
	}
	if none, err := (nodeOptions{}).nodeArgs(); err != nil || len(none) != 0 {
		t.Errorf("empty nodeargs: %q, %v", none, err)
	}
}

func TestOptionsKeepUpstreamTypesAndDefaults(t *testing.T) {
	opts, err := parseOptions(nil)
	if err != nil || !opts.typescript || opts.packagemanager != "auto" {
		t.Fatalf("defaults: %+v, %v", opts, err)
	}
	opts, err = parseOptions(&pulumirpc.ProgramInfo{Options: options(t, map[string]any{
		"typescript": false, "tsconfig": "tsconfig.build.json", "packagemanager": "pnpm", "production": true,
	})})
	if err != nil {
		t.Fatal(err)
	}
	if opts.typescript || opts.tsconfig != "tsconfig.build.json" || opts.packagemanager != "pnpm" || !opts.production {
		t.Errorf("parsed: %+v", opts)
	}
	if got := opts.env(); !reflect.DeepEqual(got, []string{"PULUMI_NODEJS_TYPESCRIPT=false", "PULUMI_NODEJS_TSCONFIG_PATH=tsconfig.build.json"}) {
		t.Errorf("env: %q", got)
	}
	for _, bad := range []map[string]any{
		{"typescript": "yes"}, {"nodeargs": 3.0}, {"packagemanager": "pip"}, {"production": "true"}, {"tsconfig": true},
	} {
		if _, err := parseOptions(&pulumirpc.ProgramInfo{Options: options(t, bad)}); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestNodeExecutableHonoursRepaveNode(t *testing.T) {
	t.Setenv("REPAVE_NODE", "/opt/node24/bin/node")
	if got, err := nodeExecutable(); err != nil || got != "/opt/node24/bin/node" {
		t.Errorf("nodeExecutable() = %q, %v", got, err)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// argument order

func TestRunArgumentOrder(t *testing.T) {
	h := newHost("127.0.0.1:5000", "http://tracing", nil)
	req := &pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:6000", Project: "repave", Stack: "dev", Organization: "acme", DryRun: true,
		Parallel: 8, Args: []string{"extra1", "extra2"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: "/p", ProgramDirectory: "/p/src", EntryPoint: "index.ts"},
	}
	got := h.runArguments(req, "/nm/run/index.js", "/p/src")
	want := []string{"/nm/run/index.js", "--monitor", "127.0.0.1:6000", "--engine", "127.0.0.1:5000",
		"--organization", "acme", "--project", "repave", "--root-directory", "/p", "--stack", "dev", "--pwd", "/p/src",
		"--dry-run", "--parallel", "8", "--tracing", "http://tracing", "index.ts", "extra1", "extra2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("run arguments:\n got %q\nwant %q", got, want)
	}
}

func TestPluginArgumentOrder(t *testing.T) {
	node := []string{"--max-old-space-size=512"}
	pluginArgs := []string{"--logtostderr", "-v=9", "127.0.0.1:5000"}
	// Policy packs: cmd/run-policy-pack <engine address (last of the plugin's args)> <pack directory>.
	got := pluginArguments(node, "/pack/run-policy-pack/index.js", pluginArgs, "/pack", true)
	want := []string{"--max-old-space-size=512", "/pack/run-policy-pack/index.js", "--logtostderr", "-v=9", "127.0.0.1:5000", "/pack"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("analyzer:\n got %q\nwant %q", got, want)
	}
	// Other plugins: cmd/run-plugin <plugin directory> <the plugin's own arguments>.
	got = pluginArguments(node, "/plug/run-plugin/index.js", pluginArgs, "/plug", false)
	want = []string{"--max-old-space-size=512", "/plug/run-plugin/index.js", "/plug", "--logtostderr", "-v=9", "127.0.0.1:5000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plugin:\n got %q\nwant %q", got, want)
	}
}

// Run end to end on a real node: nodeargs reach node (not the script), the entry point gets the flags, the config
// arrives in upstream's key form, and exit code 32 means "already reported".
func TestRunStartsNodeAsUpstream(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-run.js")
	writeFile(t, script, recorderJS)
	rec := filepath.Join(dir, "record.json")
	t.Setenv(runPathOverride, script)
	t.Setenv("RECORD", rec)
	t.Setenv("BEHAVIOUR", "exit:0")
	t.Setenv("PULUMI_NODEJS_TYPESCRIPT", "true") // an inherited value must not override the project's option

	h := newHost("127.0.0.1:5000", "", nil)
	req := &pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:6000", Project: "repave", Stack: "dev", Parallel: 4,
		Config:           map[string]string{"repave:target": "local", "aws:region": "eu-west-1"},
		ConfigSecretKeys: []string{"repave:token"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: "index.ts",
			Options: options(t, map[string]any{"typescript": false, "nodeargs": `--max-old-space-size=300 --title "repave prog"`})},
	}
	resp, err := h.Run(context.Background(), req)
	if err != nil || resp.GetError() != "" || resp.GetBail() {
		t.Fatalf("Run: %v %v", resp, err)
	}
	r := readRecord(t, rec)
	if want := []string{"--max-old-space-size=300", "--title", "repave prog"}; !reflect.DeepEqual(r.ExecArgv, want) {
		t.Errorf("node's own arguments: got %q, want %q", r.ExecArgv, want)
	}
	wantArgv := []string{"--monitor", "127.0.0.1:6000", "--engine", "127.0.0.1:5000", "--project", "repave",
		"--root-directory", dir, "--stack", "dev", "--pwd", dir, "--parallel", "4", "index.ts"}
	if !reflect.DeepEqual(r.Argv, wantArgv) {
		t.Errorf("entry point arguments:\n got %q\nwant %q", r.Argv, wantArgv)
	}
	if r.Env["PULUMI_NODEJS_TYPESCRIPT"] != "false" {
		t.Errorf("PULUMI_NODEJS_TYPESCRIPT=%q", r.Env["PULUMI_NODEJS_TYPESCRIPT"])
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(r.Env["PULUMI_CONFIG"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"repave:config:target": "local", "aws:config:region": "eu-west-1"}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("PULUMI_CONFIG: %v", cfg)
	}
	if r.Env["PULUMI_CONFIG_SECRET_KEYS"] != `["repave:token"]` {
		t.Errorf("PULUMI_CONFIG_SECRET_KEYS=%q", r.Env["PULUMI_CONFIG_SECRET_KEYS"])
	}

	t.Setenv("BEHAVIOUR", "exit:32")
	if resp, _ := h.Run(context.Background(), req); !resp.GetBail() || resp.GetError() != "" {
		t.Errorf("exit 32: %v, want Bail", resp)
	}
	t.Setenv("BEHAVIOUR", "exit:3")
	if resp, _ := h.Run(context.Background(), req); resp.GetError() != "Program exited with non-zero exit code: 3" {
		t.Errorf("exit 3: %v", resp)
	}
	req.Info.Options = options(t, map[string]any{"nodeargs": `--title "unterminated`})
	if resp, _ := h.Run(context.Background(), req); !strings.Contains(resp.GetError(), "nodeargs") {
		t.Errorf("bad nodeargs: %v", resp)
	}
}

// RunPlugin (non-analyzer) on a real node: node [nodeargs] cmd/run-plugin <dir> <plugin args>, in the engine's pwd,
// with the engine's environment, and the exit code as the last message.
func TestRunPluginStartsNodeAsUpstream(t *testing.T) {
	needNode(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-run-plugin.js")
	writeFile(t, script, recorderJS)
	rec := filepath.Join(dir, "record.json")
	pwd := t.TempDir()
	t.Setenv(runPathOverride, script)

	h := newHost("127.0.0.1:5000", "", nil)
	stream := &fakeStream[pulumirpc.RunPluginResponse]{ctx: context.Background()}
	err := h.RunPlugin(&pulumirpc.RunPluginRequest{
		Pwd: pwd, Kind: "resource", Args: []string{"-v=9", "127.0.0.1:5000"},
		Env: append(os.Environ(), "RECORD="+rec, "BEHAVIOUR=exit:7"),
		Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: ".",
			Options: options(t, map[string]any{"nodeargs": "--max-old-space-size=200"})},
	}, stream)
	if err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, rec)
	if !reflect.DeepEqual(r.ExecArgv, []string{"--max-old-space-size=200"}) {
		t.Errorf("node's own arguments: %q", r.ExecArgv)
	}
	if want := []string{dir, "-v=9", "127.0.0.1:5000"}; !reflect.DeepEqual(r.Argv, want) {
		t.Errorf("run-plugin arguments: got %q, want %q", r.Argv, want)
	}
	if real, _ := filepath.EvalSymlinks(pwd); r.Cwd != real && r.Cwd != pwd {
		t.Errorf("cwd %s, want the engine's pwd %s", r.Cwd, pwd)
	}
	msgs := stream.messages()
	if len(msgs) == 0 || msgs[len(msgs)-1].GetExitcode() != 7 {
		t.Errorf("last message %v, want exit code 7", msgs)
	}
}

// A policy pack: the engine configures the stack through the proxy first, then the pack starts in its own
// directory with that configuration in its environment, its arguments before the pack directory.
func TestRunPolicyPackGetsStackConfig(t *testing.T) {
	needNode(t)
	pack := t.TempDir()
	writeFile(t, filepath.Join(pack, "PulumiPolicy.yaml"), "runtime: nodejs\n")
	writeFile(t, filepath.Join(pack, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack", "index.js"), recorderJS)
	rec := filepath.Join(pack, "record.json")
	marker := filepath.Join(pack, "marker")

	// The "real" pack's gRPC server (an analyzer that implements nothing: ConfigureStack is then optional).
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterAnalyzerServer(srv, &pulumirpc.UnimplementedAnalyzerServer{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	packPort := lis.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	var stdoutMu sync.Mutex
	gotPort := make(chan int, 1)
	stream := &fakeStream[pulumirpc.RunPluginResponse]{ctx: ctx}
	stream.onSend = func(m *pulumirpc.RunPluginResponse) {
		stdoutMu.Lock()
		defer stdoutMu.Unlock()
		stdout.Write(m.GetStdout())
		if line, err := bufio.NewReader(bytes.NewReader(stdout.Bytes())).ReadString('\n'); err == nil {
			var port int
			if _, err := fmt.Sscanf(line, "%d", &port); err == nil {
				select {
				case gotPort <- port:
				default:
				}
			}
		}
	}

	h := newHost("127.0.0.1:5000", "", nil)
	engineCwd := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- h.RunPlugin(&pulumirpc.RunPluginRequest{
			Pwd: engineCwd, Kind: "analyzer", Args: []string{"127.0.0.1:5000"},
			Env: append(os.Environ(), "RECORD="+rec, "MARKER="+marker, "BEHAVIOUR=serve", fmt.Sprintf("PACK_PORT=%d", packPort)),
			Info: &pulumirpc.ProgramInfo{RootDirectory: pack, ProgramDirectory: pack, EntryPoint: ".",
				Options: options(t, map[string]any{"nodeargs": "--max-old-space-size=200"})},
		}, stream)
	}()

	// Act as the engine: read the port the host announced, handshake, configure the stack.
	var proxyPort int
	select {
	case proxyPort = <-gotPort:
	case err := <-done:
		t.Fatalf("RunPlugin ended before announcing a port: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no port announced")
	}
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", proxyPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pulumirpc.NewAnalyzerClient(conn)
	if _, err := client.Handshake(ctx, &pulumirpc.AnalyzerHandshakeRequest{EngineAddress: "127.0.0.1:5000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{
		Organization: "acme", Project: "repave", Stack: "dev", DryRun: true,
		Config: map[string]string{"repave:target": "local"},
	}); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, rec+".ready", 20*time.Second)
	r := readRecord(t, rec)
	if real, _ := filepath.EvalSymlinks(pack); r.Cwd != real && r.Cwd != pack {
		t.Errorf("cwd %s, want the pack directory %s", r.Cwd, pack)
	}
	if want := []string{"127.0.0.1:5000", pack}; !reflect.DeepEqual(r.Argv, want) {
		t.Errorf("run-policy-pack arguments: got %q, want %q", r.Argv, want)
	}
	if !reflect.DeepEqual(r.ExecArgv, []string{"--max-old-space-size=200"}) {
		t.Errorf("node's own arguments: %q", r.ExecArgv)
	}
	for k, v := range map[string]string{
		"PULUMI_NODEJS_ORGANIZATION": "acme", "PULUMI_NODEJS_PROJECT": "repave", "PULUMI_NODEJS_STACK": "dev",
		"PULUMI_NODEJS_DRY_RUN": "true", "PULUMI_CONFIG": `{"repave:target":"local"}`,
	} {
		if r.Env[k] != v {
			t.Errorf("%s=%q, want %q", k, r.Env[k], v)
		}
	}
	// The proxy forwards to the pack: the pack's (unimplemented) answer comes back.
	if _, err := client.GetAnalyzerInfo(ctx, &emptypb.Empty{}); err == nil || !strings.Contains(err.Error(), "Unimplemented") {
		t.Errorf("GetAnalyzerInfo through the proxy: %v", err)
	}

	// The engine closes the plugin: node is interrupted, not killed.
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunPlugin did not end after the engine closed the stream")
	}
	waitForFile(t, marker, 5*time.Second)
}

// ---------------------------------------------------------------------------------------------------------------
// graceful shutdown

func startTrapped(t *testing.T, behaviour string) (h *host, marker string, result chan *pulumirpc.RunResponse, ctxCancel context.CancelFunc) {
	t.Helper()
	needNode(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-run.js")
	writeFile(t, script, recorderJS)
	rec := filepath.Join(dir, "record.json")
	marker = filepath.Join(dir, "marker")
	t.Setenv(runPathOverride, script)
	t.Setenv("RECORD", rec)
	t.Setenv("MARKER", marker)
	t.Setenv("BEHAVIOUR", behaviour)

	h = newHost("127.0.0.1:5000", "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	result = make(chan *pulumirpc.RunResponse, 1)
	go func() {
		resp, err := h.Run(ctx, &pulumirpc.RunRequest{
			Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: "."},
		})
		if err != nil {
			resp = &pulumirpc.RunResponse{Error: err.Error()}
		}
		result <- resp
	}()
	waitForFile(t, rec+".ready", 20*time.Second)
	return h, marker, result, cancel
}

func TestCancelInterruptsNodeGracefully(t *testing.T) {
	h, marker, result, cancel := startTrapped(t, "trap")
	defer cancel()
	start := time.Now()
	if _, err := h.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	var resp *pulumirpc.RunResponse
	select {
	case resp = <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Cancel")
	}
	data, err := os.ReadFile(marker)
	if err != nil || string(data) != "finished after SIGINT" {
		t.Fatalf("node did not get to run its SIGINT handler: %q %v", data, err)
	}
	if resp.GetError() != "Program was cancelled" {
		t.Errorf("response %v", resp)
	}
	if elapsed := time.Since(start); elapsed > gracePeriod {
		t.Errorf("took %v: SIGINT should have ended it well within the grace period", elapsed)
	}
}

func TestRequestCancellationInterruptsNodeGracefully(t *testing.T) {
	_, marker, result, cancel := startTrapped(t, "trap")
	cancel()
	select {
	case <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if data, err := os.ReadFile(marker); err != nil || string(data) != "finished after SIGINT" {
		t.Fatalf("node did not get to run its SIGINT handler: %q %v", data, err)
	}
}

func TestNodeIgnoringSIGINTIsKilledAfterGracePeriod(t *testing.T) {
	old := gracePeriod
	gracePeriod = 700 * time.Millisecond
	defer func() { gracePeriod = old }()
	h, marker, result, cancel := startTrapped(t, "ignore")
	defer cancel()
	start := time.Now()
	_, _ = h.Cancel(context.Background(), &emptypb.Empty{})
	var resp *pulumirpc.RunResponse
	select {
	case resp = <-result:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return: the process was never killed")
	}
	elapsed := time.Since(start)
	if data, _ := os.ReadFile(marker); string(data) != "ignored SIGINT" {
		t.Errorf("SIGINT was not delivered first: marker %q", data)
	}
	if elapsed < gracePeriod {
		t.Errorf("killed after %v, before the %v grace period", elapsed, gracePeriod)
	}
	if !strings.Contains(resp.GetError(), "killed") {
		t.Errorf("response %v, want the SIGKILL reported", resp)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// pulumi install

func TestInstallDependenciesRunsPackageManager(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not on PATH")
	}
	// Offline and quiet: the dependency is a local directory.
	t.Setenv("npm_config_offline", "true")
	t.Setenv("npm_config_audit", "false")
	t.Setenv("npm_config_fund", "false")
	t.Setenv("npm_config_update_notifier", "false")
	prog := t.TempDir()
	writeJSON(t, filepath.Join(prog, "left", "package.json"), map[string]any{"name": "left", "version": "1.0.0"})
	writeJSON(t, filepath.Join(prog, "package.json"), map[string]any{
		"name": "prog", "version": "1.0.0", "dependencies": map[string]any{"left": "file:./left"}})

	h := newHost("", "", nil)
	stream := &fakeStream[pulumirpc.InstallDependenciesResponse]{ctx: context.Background()}
	info := &pulumirpc.ProgramInfo{RootDirectory: prog, ProgramDirectory: prog, EntryPoint: ".",
		Options: options(t, map[string]any{"packagemanager": "npm"})}
	if err := h.InstallDependencies(&pulumirpc.InstallDependenciesRequest{Info: info}, stream); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, m := range stream.messages() {
		out.Write(m.GetStdout())
		out.Write(m.GetStderr())
	}
	if !strings.Contains(out.String(), "Installing dependencies...") || !strings.Contains(out.String(), "Finished installing dependencies") {
		t.Errorf("streamed output: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(prog, "node_modules", "left", "package.json")); err != nil {
		t.Errorf("npm did not install the dependency: %v", err)
	}

	// A package manager that is not installed is an error that names it, not a silent fallback.
	if _, err := exec.LookPath("yarn"); err == nil {
		t.Skip("yarn is installed here")
	}
	info.Options = options(t, map[string]any{"packagemanager": "yarn"})
	err := h.InstallDependencies(&pulumirpc.InstallDependenciesRequest{Info: info},
		&fakeStream[pulumirpc.InstallDependenciesResponse]{ctx: context.Background()})
	if err == nil || !strings.Contains(err.Error(), "yarn") {
		t.Errorf("packagemanager yarn without yarn: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------------------------
// host flags

func TestHostFlags(t *testing.T) {
	f := parseHostFlags([]string{"--logtostderr", "-v=9", "--tracing", "http://t", "127.0.0.1:1234"})
	if f.engineAddress != "127.0.0.1:1234" || f.tracing != "http://t" || f.verbose != 9 || !f.logToStderr {
		t.Errorf("%+v", f)
	}
}
