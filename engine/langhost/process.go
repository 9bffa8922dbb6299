package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"google.golang.org/grpc"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// gracePeriod is how long node gets to finish after SIGINT before it is killed (Pulumi's host waits 5s as well).
var gracePeriod = 5 * time.Second

// gracefulCommand is exec.CommandContext, except that cancelling ctx interrupts the process (SIGINT, as Ctrl-C
// would) instead of killing it, so the program's own handlers and @pulumi/pulumi's exit hooks run and report; the
// process is killed only if it is still running gracePeriod later. The same delay bounds the wait for output pipes
// held open by grandchildren after node itself has exited.
func gracefulCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = gracePeriod
	return cmd
}

// writerFunc adapts a function to io.Writer. exec.Cmd reuses its copy buffer, so the function gets its own copy.
type writerFunc func([]byte) error

func (w writerFunc) Write(p []byte) (int, error) {
	if err := w(bytes.Clone(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pluginStream serializes a RunPlugin response stream: gRPC forbids concurrent Send, and exec copies stdout and stderr
// from separate goroutines. After the exit code (the last message, per the protocol) every later write is dropped.
type pluginStream struct {
	mu     sync.Mutex
	done   bool
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse]
}

func (s *pluginStream) send(resp *pulumirpc.RunPluginResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	return s.server.Send(resp)
}

func (s *pluginStream) stdout() io.Writer {
	return writerFunc(func(b []byte) error {
		return s.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	})
}

func (s *pluginStream) stderr() io.Writer {
	return writerFunc(func(b []byte) error {
		return s.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	})
}

func (s *pluginStream) exit(code int32) error {
	err := s.send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	return err
}

// installStream serializes an InstallDependencies response stream (stdout and stderr are sent from two goroutines).
type installStream struct {
	grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]
	mu sync.Mutex
}

func (s *installStream) Send(resp *pulumirpc.InstallDependenciesResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ServerStreamingServer.Send(resp)
}

// oomWatch passes node's stderr through and notes V8's out-of-memory report, so the failure can say which option
// raises the limit.
type oomWatch struct {
	w        io.Writer
	mu       sync.Mutex
	tail     []byte
	detected bool
}

var oomMarkers = [][]byte{
	[]byte("<--- Last few GCs --->"),
	// With the inspector attached (closure serialization), V8 can die on this assertion instead.
	[]byte("Check failed: needs_context && current_scope_ == closure_scope_"),
}

func (o *oomWatch) Write(p []byte) (int, error) {
	o.mu.Lock()
	if !o.detected {
		window := append(o.tail, p...)
		for _, m := range oomMarkers {
			if bytes.Contains(window, m) {
				o.detected = true
			}
		}
		if keep := 128; len(window) > keep {
			window = window[len(window)-keep:]
		}
		o.tail = bytes.Clone(window)
	}
	o.mu.Unlock()
	return o.w.Write(p)
}

func (o *oomWatch) sawOOM() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.detected
}

const oomAdvice = "Detected a possible out of memory error. Consider increasing the memory available to the nodejs " +
	"process by setting the `nodeargs` runtime option in Pulumi.yaml to `nodeargs: --max-old-space-size=<size>` " +
	"where `<size>` is the maximum memory in megabytes that can be allocated to nodejs. " +
	"See https://www.pulumi.com/docs/concepts/projects/project-file/#runtime-options"
