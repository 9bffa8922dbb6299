package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// The contract the engine relies on (and Pulumi's own Node.js host implements): every package installed under a
// node_modules directory anywhere below the program directory whose package.json says `"pulumi": {"resource": true}`
// is a package the program needs, and its resource plugin is what the engine installs before a deployment.
//
//   - plugin name: `pulumi.name`, else the package name without its `@pulumi/` scope; any other package must name its
//     plugin, or it is reported as an error and skipped;
//   - plugin version: `pulumi.version`, else the package version, always with a leading "v";
//   - download server: `pulumi.server`;
//   - `pulumi.parameterization` / `pulumi.extensionParameterization`: the package is a parameterization of that
//     plugin (value is base64 in package.json, bytes on the wire).
//
// Policy packs (directories holding PulumiPolicy.yaml) below the program are skipped: their dependencies are theirs,
// not the program's. Symbolic links are followed (a node_modules symlinked into a project counts, and so does a local
// package linked by a `file:` dependency).

// packageManifest is the part of a package.json the discovery reads.
type packageManifest struct {
	Name    string                  `json:"name"`
	Version string                  `json:"version"`
	Pulumi  plugin.PulumiPluginJSON `json:"pulumi"`
}

// discovery is the result of one walk: the packages in walk order (deduplicated), the @pulumi/pulumi copies seen
// (path -> version) in walk order, and the problems met on the way (none of them stops the walk).
type discovery struct {
	packages      []*pulumirpc.PackageDependency
	pulumiSDKs    []sdkCopy
	problems      []error
	seenPackages  map[string]bool
	visitedDirs   map[string]bool
	manifestCount int
}

type sdkCopy struct {
	path    string
	version string
}

// discoverPackages walks programDir and returns what the program requires.
func discoverPackages(programDir string) *discovery {
	d := &discovery{seenPackages: map[string]bool{}, visitedDirs: map[string]bool{}}
	root, err := filepath.Abs(programDir)
	if err == nil {
		if resolved, rerr := filepath.EvalSymlinks(root); rerr == nil {
			root = resolved
		}
		d.walk(root, false)
	} else {
		d.problems = append(d.problems, err)
	}
	return d
}

func (d *discovery) walk(dir string, inNodeModules bool) {
	// A directory is walked at most once as part of the program and once as an installed package: a local package
	// the program depends on by `file:` (npm links it into node_modules) is found whichever way is walked first,
	// and links pointing back up cannot loop.
	key := dir
	if inNodeModules {
		key += "\x00package" // NUL cannot occur in a path
	}
	if d.visitedDirs[key] {
		return
	}
	d.visitedDirs[key] = true

	entries, err := os.ReadDir(dir)
	if err != nil {
		d.problems = append(d.problems, fmt.Errorf("reading %s: %w", dir, err))
		return
	}
	// Everything below a node_modules directory is inside installed packages.
	childInNodeModules := inNodeModules || filepath.Base(dir) == "node_modules"
	for _, entry := range entries {
		path := filepath.Join(dir, entry.Name())
		isDir := entry.IsDir()
		if entry.Type()&fs.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(path)
			if err != nil {
				d.problems = append(d.problems, fmt.Errorf("resolving link %s: %w", path, err))
				continue
			}
			info, err := os.Stat(resolved)
			if err != nil {
				d.problems = append(d.problems, err)
				continue
			}
			path, isDir = resolved, info.IsDir()
		}
		switch {
		case isDir:
			pack, err := workspace.DetectPolicyPackPathAt(path)
			if err != nil {
				d.problems = append(d.problems, err)
				continue
			}
			if pack != "" {
				continue // a policy pack's own dependencies are not the program's
			}
			d.walk(path, childInNodeModules)
		case inNodeModules && entry.Name() == "package.json":
			d.readManifest(path)
		}
	}
}

func (d *discovery) readManifest(path string) {
	d.manifestCount++
	data, err := os.ReadFile(path)
	if err != nil {
		d.problems = append(d.problems, fmt.Errorf("reading %s: %w", path, err))
		return
	}
	var m packageManifest
	if err := json.Unmarshal(data, &m); err != nil {
		d.problems = append(d.problems, fmt.Errorf("parsing %s: %w", path, err))
		return
	}
	if m.Name == "@pulumi/pulumi" {
		d.pulumiSDKs = append(d.pulumiSDKs, sdkCopy{path: path, version: m.Version})
	}
	dep, err := packageDependency(m)
	if err != nil {
		d.problems = append(d.problems, fmt.Errorf("%s: %w", path, err))
		return
	}
	if dep == nil {
		return
	}
	key := dependencyKey(dep)
	if d.seenPackages[key] {
		return
	}
	d.seenPackages[key] = true
	d.packages = append(d.packages, dep)
}

// packageDependency maps one package.json to the package it provides, nil when it is not a resource package.
func packageDependency(m packageManifest) (*pulumirpc.PackageDependency, error) {
	if !m.Pulumi.Resource {
		return nil, nil
	}
	name := m.Pulumi.Name
	if name == "" {
		switch {
		case m.Name == "":
			return nil, errors.New(`missing expected "name" property`)
		case strings.HasPrefix(m.Name, "@pulumi/"):
			name = strings.TrimPrefix(m.Name, "@pulumi/")
		default:
			return nil, fmt.Errorf(`third-party package %q must name its plugin: "pulumi": {"name": ...} in package.json`, m.Name)
		}
	}
	version := m.Pulumi.Version
	if version == "" {
		version = m.Version
	}
	if version == "" {
		return nil, errors.New(`missing expected "version" property`)
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return &pulumirpc.PackageDependency{
		Name:             name,
		Kind:             "resource",
		Version:          version,
		Server:           m.Pulumi.Server,
		Parameterization: parameterization(m.Pulumi.Parameterization),
		Extension:        parameterization(m.Pulumi.ExtensionParameterization),
	}, nil
}

func parameterization(p *plugin.PulumiParameterizationJSON) *pulumirpc.PackageParameterization {
	if p == nil {
		return nil
	}
	return &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
}

func dependencyKey(p *pulumirpc.PackageDependency) string {
	param := func(x *pulumirpc.PackageParameterization) string {
		if x == nil {
			return "-"
		}
		return strconv.Quote(x.GetName()) + "@" + strconv.Quote(x.GetVersion()) + "=" + strconv.Quote(string(x.GetValue()))
	}
	return strings.Join([]string{
		strconv.Quote(p.GetName()), strconv.Quote(p.GetKind()), strconv.Quote(p.GetVersion()),
		strconv.Quote(p.GetServer()), param(p.GetParameterization()), param(p.GetExtension()),
	}, "|")
}

// plugins reduces the packages to the plugins they run on (a parameterized package runs on its base plugin).
func (d *discovery) plugins() []*pulumirpc.PluginDependency {
	seen := map[string]bool{}
	var out []*pulumirpc.PluginDependency
	for _, p := range d.packages {
		key := strconv.Quote(p.GetName()) + "|" + strconv.Quote(p.GetVersion()) + "|" + strconv.Quote(p.GetServer())
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, &pulumirpc.PluginDependency{
			Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Server: p.GetServer(),
		})
	}
	return out
}

// sdkConflict describes two copies of @pulumi/pulumi that cannot share one process's state (resources registered
// through one are invisible to the other), "" when all copies agree. The rule is semver-ish: from 3.x on, majors must
// match; before 1.0, major and minor; 1.x and 2.x mix; 0.17 is treated as 1.x.
func (d *discovery) sdkConflict() string {
	if len(d.pulumiSDKs) < 2 {
		return ""
	}
	first := d.pulumiSDKs[0]
	fa, fb, ok := majorMinor(first.version)
	if !ok {
		return ""
	}
	for _, other := range d.pulumiSDKs[1:] {
		a, b, ok := majorMinor(other.version)
		if !ok {
			continue
		}
		if compatible, why := compatibleSDKs(fa, fb, a, b); !compatible {
			return fmt.Sprintf("Found incompatible versions of @pulumi/pulumi. %s\n  Version %s referenced at %s\n"+
				"  Version %s referenced at %s\n", why, first.version, first.path, other.version, other.path)
		}
	}
	return ""
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

func compatibleSDKs(aMajor, aMinor, bMajor, bMinor int) (bool, string) {
	switch {
	case aMajor == 0 && bMajor == 0:
		if aMinor != bMinor {
			return false, "Differing major or minor versions are not supported."
		}
	case aMajor >= 1 && aMajor <= 2 && bMajor >= 1 && bMajor <= 2:
	case aMajor > 2 || bMajor > 2:
		if aMajor != bMajor {
			return false, "Differing major versions are not supported."
		}
	case (aMajor == 1 && bMajor == 0 && bMinor == 17) || (bMajor == 1 && aMajor == 0 && aMinor == 17):
	default:
		return false, "Differing major or minor versions are not supported."
	}
	return true, ""
}
