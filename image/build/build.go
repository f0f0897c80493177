package build

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/minirun/minirun/explain"
	"github.com/minirun/minirun/image"
)

// Options describe one build, the flags of `docker build`.
type Options struct {
	// ContextDir is the build context: COPY and ADD read from it only.
	ContextDir string
	// Dockerfile is the Dockerfile's path; ContextDir/Dockerfile when "".
	Dockerfile string
	// Tags name the result ("-t NAME[:TAG]", repeatable).
	Tags []string
	// BuildArgs are the --build-arg values for ARG instructions.
	BuildArgs map[string]string
	// NoCache builds every step again.
	NoCache bool
	// Labels are --label KEY=VALUE: set on the final image by a LABEL
	// instruction appended to the Dockerfile, as the classic builder does
	// (one more "Step n/N : LABEL …").
	Labels map[string]string
	// Out receives the build's output, Docker's "Step 1/5 : …" lines and
	// the RUN commands' output. nil discards it.
	Out io.Writer
	// Runner runs RUN instructions; a Dockerfile with RUN fails without it.
	Runner Runner
	// Pull fetches a FROM image the store does not have; nil fails instead.
	Pull func(ref string) (*image.Image, error)
	// Tracer narrates the steps (explain chapter "images"); nil is silent.
	// A dry-run tracer makes Build describe the steps and return a nil
	// image, changing and reading nothing but the Dockerfile.
	Tracer *explain.Tracer
	// DockerfileContent, when not nil, is the Dockerfile itself, and
	// Dockerfile is not read: a dry run needs no file.
	DockerfileContent []byte
	// Context ends the build when it is done (the daemon passes the
	// request's, done when the client hangs up, as dockerd cancels a
	// build whose client is gone): checked before every step, and passed
	// to the Runner, which kills a running RUN step's container. nil
	// never ends.
	Context context.Context
	// DryRunCache is what a dry run assumes of the cache, which only a
	// real build can consult: true, that every instruction after FROM
	// finds its image; false, that none does. See (*builder).dryRun.
	DryRunCache bool
}

// ErrParse marks a Dockerfile that cannot be parsed (wrapped): the build
// has not started, and the daemon answers 400, as dockerd does.
var ErrParse = errors.New("parse Dockerfile")

// Parse reads a Dockerfile with BuildKit's parser and returns its stages
// and the ARGs declared before the first FROM.
func Parse(dockerfile []byte) ([]instructions.Stage, []instructions.ArgCommand, rune, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrParse, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrParse, err)
	}
	if len(stages) == 0 {
		return nil, nil, 0, fmt.Errorf("%w: no FROM instruction", ErrParse)
	}
	return stages, metaArgs, res.EscapeToken, nil
}

// builder is the state of a build between steps.
type builder struct {
	store *image.Store
	o     Options
	out   io.Writer
	ctx   *buildContext
	lex   *shell.Lex

	parent *image.Image // the last step's image; nil after FROM scratch
	cfg    v1.Image     // the config being built
	// args are the ARGs declared in the stage, in order, with their
	// values (nil: declared without a value and none given).
	args     []arg
	metaArgs []arg
	usedArgs map[string]bool
	shell    []string
	cmdSet   bool // CMD appeared in this Dockerfile

	step, total int
	text        string // the instruction being run, as written
}

type arg struct {
	name  string
	value *string
}

// Build runs the Dockerfile of o and returns the final image, tagged with
// o.Tags. The output is Docker's classic builder's, step by step.
func Build(s *image.Store, o Options) (*image.Image, error) {
	if o.Dockerfile == "" {
		o.Dockerfile = filepath.Join(o.ContextDir, "Dockerfile")
	}
	for _, t := range o.Tags {
		if _, err := image.ParseRef(t); err != nil {
			return nil, err
		}
	}
	data := o.DockerfileContent
	if data == nil {
		var err error
		if data, err = os.ReadFile(o.Dockerfile); err != nil {
			return nil, fmt.Errorf("read Dockerfile: %w", err)
		}
	}
	data = withLabels(data, o.Labels)
	stages, metaArgs, escape, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if len(stages) > 1 {
		return nil, fmt.Errorf("multi-stage builds (%d FROM instructions) are not supported: minirun builds one stage", len(stages))
	}
	b := &builder{
		store: s, o: o, out: o.Out, lex: shell.NewLex(escape),
		usedArgs: map[string]bool{}, shell: []string{"/bin/sh", "-c"},
	}
	if b.out == nil {
		b.out = io.Discard
	}
	if o.Tracer.DryRun() {
		return nil, b.dryRun(stages[0])
	}
	if b.ctx, err = openContext(o.ContextDir); err != nil {
		return nil, err
	}
	for _, m := range metaArgs {
		for _, kv := range m.Args {
			b.metaArgs = append(b.metaArgs, b.argValue(kv))
		}
	}
	st := stages[0]
	b.total = 1 + len(st.Commands)
	if err := b.cancelled(); err != nil {
		return nil, err
	}
	if err := b.from(st); err != nil {
		return nil, err
	}
	for _, cmd := range st.Commands {
		if err := b.cancelled(); err != nil {
			return nil, err
		}
		if err := b.dispatch(cmd); err != nil {
			return nil, err
		}
	}
	if err := b.cancelled(); err != nil {
		return nil, err
	}
	if b.parent == nil {
		return nil, errors.New("no image was built: a FROM scratch needs at least one instruction that adds a layer")
	}
	var unused []string
	for k := range o.BuildArgs {
		if !b.usedArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(b.out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	fmt.Fprintf(b.out, "Successfully built %s\n", short(b.parent.ID))
	for _, t := range o.Tags {
		r, _ := image.ParseRef(t)
		if err := s.TagTraced(b.parent.ID, r.String(), o.Tracer); err != nil {
			return nil, err
		}
		fmt.Fprintf(b.out, "Successfully tagged %s\n", r.String())
	}
	return s.Get(b.parent.ID)
}

// cancelled is the error of a build whose Options.Context is done, nil
// while it goes on.
func (b *builder) cancelled() error {
	if b.o.Context == nil {
		return nil
	}
	if err := context.Cause(b.o.Context); err != nil {
		return fmt.Errorf("build cancelled: %w", err)
	}
	return nil
}

// withLabels appends the LABEL instruction of --label to a Dockerfile,
// keys sorted and both sides quoted, as moby's classic builder
// (builder/dockerfile/builder.go, "buildLabelOptions") does.
func withLabels(dockerfile []byte, labels map[string]string) []byte {
	if len(labels) == 0 {
		return dockerfile
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := "LABEL"
	for _, k := range keys {
		line += " " + strconv.Quote(k) + "=" + strconv.Quote(labels[k])
	}
	out := slices.Clone(dockerfile)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, line+"\n"...)
}

// dryRun describes the build of stage st with a dry-run tracer: the steps
// each instruction takes in Build, in Build's order, with nothing run and
// neither the context nor the store read. A RUN's container steps are not
// described: the container is the Runner's (which the build package cannot
// see), and `explain images` shows only the images chapter.
//
// Whether an instruction hits the cache decides its steps (a hit takes
// images-build-cache; a miss makes a layer or a config), and only the store
// knows. Rather than guess per instruction, a dry run takes one answer for
// the whole Dockerfile from Options.DryRunCache: the same Dockerfile and
// flag always narrate the same steps. A caller that knows the state of the
// cache gets exactly the live build's steps: the course's images chapter
// builds on a base image made anew on every run (its top layer holds the
// run's own marker), so its first build can never hit and its second, of
// the same Dockerfile on the same base, always hits.
func (b *builder) dryRun(st instructions.Stage) error {
	tr := b.o.Tracer
	b.total = 1 + len(st.Commands)
	b.begin(st.SourceCode)
	if err := tr.Do(stepBuild(b.step, b.total, st.SourceCode), nil); err != nil {
		return err
	}
	for _, cmd := range st.Commands {
		text := cmd.(fmt.Stringer).String()
		b.begin(text)
		if err := tr.Do(stepBuild(b.step, b.total, text), nil); err != nil {
			return err
		}
		if b.o.DryRunCache && !b.o.NoCache {
			if err := tr.Do(stepBuildCache(text), nil); err != nil {
				return err
			}
			continue
		}
		newLayer := false
		switch cmd.(type) {
		case *instructions.RunCommand:
			if err := tr.Do(stepBuildDiff("$SCRATCH/upper"), nil); err != nil {
				return err
			}
			newLayer = true
		case *instructions.CopyCommand, *instructions.AddCommand:
			newLayer = true
		}
		if err := b.store.NarrateCommit(newLayer, tr); err != nil {
			return err
		}
	}
	for _, t := range b.o.Tags {
		if err := b.store.TagTraced("sha256:$IMAGE_ID", t, tr); err != nil {
			return err
		}
	}
	return nil
}

// argValue gives a declared ARG its value: --build-arg wins over the
// default in the Dockerfile.
func (b *builder) argValue(kv instructions.KeyValuePairOptional) arg {
	a := arg{name: kv.Key, value: kv.Value}
	if v, ok := b.o.BuildArgs[kv.Key]; ok {
		a.value = &v
		b.usedArgs[kv.Key] = true
	}
	return a
}

func short(id string) string { return strings.TrimPrefix(id, "sha256:")[:12] }

// env is what variables expand to in an instruction: the image's ENV, and
// the ARGs that ENV does not override (ENV wins over ARG, as in Docker).
func (b *builder) env() []string {
	env := slices.Clone(b.cfg.Config.Env)
	for _, a := range b.args {
		if a.value != nil && !hasEnv(env, a.name) {
			env = append(env, a.name+"="+*a.value)
		}
	}
	return env
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// setEnv sets key=value in env, replacing an earlier value.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// begin prints "Step n/N : INSTRUCTION" as Docker does.
func (b *builder) begin(text string) {
	b.step++
	fmt.Fprintf(b.out, "Step %d/%d : %s\n", b.step, b.total, text)
}

// from starts the stage on its base image.
func (b *builder) from(st instructions.Stage) error {
	b.begin(st.SourceCode)
	var meta []string
	for _, a := range b.metaArgs {
		if a.value != nil {
			meta = append(meta, a.name+"="+*a.value)
		}
	}
	base, _, err := b.lex.ProcessWord(st.BaseName, shell.EnvsFromSlice(meta))
	if err != nil {
		return fmt.Errorf("FROM %s: %w", st.BaseName, err)
	}
	step := stepBuild(b.step, b.total, st.SourceCode)
	step.Do = func() error {
		if base == "scratch" {
			b.parent = nil
			now := time.Now().UTC()
			b.cfg = v1.Image{Created: &now, Platform: v1.Platform{OS: "linux", Architecture: goarch()}}
			return nil
		}
		img, err := b.store.Get(base)
		if errors.Is(err, image.ErrNotFound) {
			if b.o.Pull == nil {
				return fmt.Errorf("FROM %s: %w, and pulling is off (--pull never, MINIRUN_PULL=never): pull or load it first", base, err)
			}
			img, err = b.o.Pull(base)
		}
		if err != nil {
			return fmt.Errorf("FROM %s: %w", base, err)
		}
		b.parent, b.cfg = img, img.Config
		fmt.Fprintf(b.out, " ---> %s\n", short(img.ID))
		return nil
	}
	return b.o.Tracer.Do(step, nil)
}

// dispatch runs one instruction.
func (b *builder) dispatch(cmd instructions.Command) error {
	text := cmd.(fmt.Stringer).String()
	b.text = text
	b.begin(text)
	// Expansion first: ${VAR} in the instruction's words, with the
	// variables known at this step.
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		env := shell.EnvsFromSlice(b.env())
		err := ex.Expand(func(word string) (string, error) {
			res, _, err := b.lex.ProcessWord(word, env)
			return res, err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", text, err)
		}
	}
	// The step announces the instruction, as Docker's "Step n/N" line
	// does; the work follows as steps of its own (the RUN container's,
	// the layer's, the config's, or the cache's), each ended before the
	// next begins. Had the work run inside this step's Do, the step would
	// end after them, and a narration that writes a step when it ends
	// (--json) would list them in another order than a dry run.
	step := stepBuild(b.step, b.total, text)
	if b.parent != nil {
		on := short(b.parent.ID)
		step.EvidenceText = func() explain.Text {
			return explain.Text{PT: "sobre a imagem " + on, EN: "on image " + on}
		}
	}
	if err := b.o.Tracer.Do(step, nil); err != nil {
		return err
	}
	return b.run(cmd, text)
}

func (b *builder) run(cmd instructions.Command, text string) error {
	cfg := b.cfg
	c := &cfg.Config
	switch cmd := cmd.(type) {
	case *instructions.EnvCommand:
		c.Env = slices.Clone(c.Env)
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
		return b.commitConfig(cfg, nop(envText(cmd.Env)))
	case *instructions.ArgCommand:
		for _, kv := range cmd.Args {
			a := b.argValue(kv)
			if a.value == nil {
				// Declared again in the stage without a default: it
				// takes the value it had before the FROM.
				for _, m := range b.metaArgs {
					if m.name == a.name {
						a.value = m.value
					}
				}
			}
			b.args = append(b.args, a)
		}
		return b.commitConfig(cfg, nop(text))
	case *instructions.LabelCommand:
		c.Labels = cloneMap(c.Labels)
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
		}
		return b.commitConfig(cfg, nop(text))
	case *instructions.MaintainerCommand:
		cfg.Author = cmd.Maintainer
		return b.commitConfig(cfg, nop(text))
	case *instructions.WorkdirCommand:
		wd := cmd.Path
		if !path.IsAbs(wd) {
			wd = path.Join("/", c.WorkingDir, wd)
		}
		c.WorkingDir = path.Clean(wd)
		return b.commitConfig(cfg, nop("WORKDIR "+c.WorkingDir))
	case *instructions.UserCommand:
		c.User = cmd.User
		return b.commitConfig(cfg, nop("USER "+cmd.User))
	case *instructions.ExposeCommand:
		c.ExposedPorts = cloneSet(c.ExposedPorts)
		var ports []string
		for _, word := range cmd.Ports {
			// EXPOSE has no Expand method in BuildKit: its dispatcher
			// expands the ports itself, as here.
			p, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(b.env()))
			if err != nil {
				return fmt.Errorf("EXPOSE %s: %w", word, err)
			}
			ps, err := expandPorts(p)
			if err != nil {
				return err
			}
			for _, p := range ps {
				c.ExposedPorts[p] = struct{}{}
				ports = append(ports, p)
			}
		}
		return b.commitConfig(cfg, nop("EXPOSE "+strings.Join(ports, " ")))
	case *instructions.VolumeCommand:
		c.Volumes = cloneSet(c.Volumes)
		for _, v := range cmd.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			c.Volumes[v] = struct{}{}
		}
		return b.commitConfig(cfg, nop(fmt.Sprintf("VOLUME %v", cmd.Volumes)))
	case *instructions.StopSignalCommand:
		c.StopSignal = cmd.Signal
		return b.commitConfig(cfg, nop(text))
	case *instructions.ShellCommand:
		b.shell = slices.Clone(cmd.Shell)
		return b.commitConfig(cfg, nop(text))
	case *instructions.CmdCommand:
		c.Cmd = b.withShell(cmd.ShellDependantCmdLine)
		b.cmdSet = true
		return b.commitConfig(cfg, nop(fmt.Sprintf("CMD %s", jsonArgs(c.Cmd))))
	case *instructions.EntrypointCommand:
		c.Entrypoint = b.withShell(cmd.ShellDependantCmdLine)
		// A new ENTRYPOINT drops the CMD inherited from the base image:
		// it was meant as arguments of another program.
		if !b.cmdSet {
			c.Cmd = nil
		}
		return b.commitConfig(cfg, nop(fmt.Sprintf("ENTRYPOINT %s", jsonArgs(c.Entrypoint))))
	case *instructions.RunCommand:
		return b.runCommand(cmd)
	case *instructions.CopyCommand:
		if cmd.From != "" {
			return fmt.Errorf("COPY --from is not supported: minirun builds one stage")
		}
		return b.copy(copyRequest{name: "COPY", srcs: cmd.SourcePaths, dest: cmd.DestPath, chown: cmd.Chown, chmod: cmd.Chmod})
	case *instructions.AddCommand:
		return b.copy(copyRequest{name: "ADD", srcs: cmd.SourcePaths, dest: cmd.DestPath, chown: cmd.Chown, chmod: cmd.Chmod, unpack: true})
	case *instructions.HealthCheckCommand, *instructions.OnbuildCommand:
		fmt.Fprintf(b.out, " ---> [Warning] %s is not supported by minirun, ignored\n", strings.ToUpper(cmd.Name()))
		return b.commitConfig(cfg, nop(text))
	default:
		return fmt.Errorf("%s: instruction not supported by minirun", text)
	}
}

// withShell turns a shell-form command line into the shell's arguments.
func (b *builder) withShell(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(slices.Clone(b.shell), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

// nop is how the classic builder records an instruction that ran no
// command: as a no-op shell command, which is what `docker history` shows.
func nop(text string) string { return "/bin/sh -c #(nop)  " + text }

func envText(kvs instructions.KeyValuePairs) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, kv.Key+"="+kv.Value)
	}
	return "ENV " + strings.Join(parts, " ")
}

func jsonArgs(a []string) string {
	b, _ := json.Marshal(a)
	return string(b)
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneSet(m map[string]struct{}) map[string]struct{} {
	out := make(map[string]struct{}, len(m))
	for k := range m {
		out[k] = struct{}{}
	}
	return out
}

// expandPorts turns "80", "53/udp" or "8000-8002/tcp" into "80/tcp" forms.
func expandPorts(p string) ([]string, error) {
	port, proto, _ := strings.Cut(p, "/")
	if proto == "" {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(port, "-")
	var a, z int
	if _, err := fmt.Sscanf(lo, "%d", &a); err != nil || a < 1 || a > 65535 {
		return nil, fmt.Errorf("EXPOSE %s: invalid port", p)
	}
	z = a
	if isRange {
		if _, err := fmt.Sscanf(hi, "%d", &z); err != nil || z < a || z > 65535 {
			return nil, fmt.Errorf("EXPOSE %s: invalid port range", p)
		}
	}
	var out []string
	for i := a; i <= z; i++ {
		out = append(out, fmt.Sprintf("%d/%s", i, strings.ToLower(proto)))
	}
	return out, nil
}

// commitConfig ends a step that changed only the config: a new image with
// the parent's layers and an empty_layer history entry — or the image a
// previous build made for the same step (the cache).
func (b *builder) commitConfig(cfg v1.Image, createdBy string) error {
	return b.commit(cfg, createdBy, nil, "")
}

// commit makes the step's image, unless the cache has it. layer, when not
// nil, is the step's new layer, opened on demand.
func (b *builder) commit(cfg v1.Image, createdBy string, layer func() (io.ReadCloser, error), comment string) error {
	if hit, err := b.cached(cfg, createdBy, layer != nil); err != nil {
		return err
	} else if hit != nil {
		return b.useCache(hit)
	}
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.History = append(slices.Clone(cfg.History), v1.History{
		Created: &now, CreatedBy: createdBy, Comment: comment, EmptyLayer: layer == nil,
	})
	var r io.ReadCloser
	if layer != nil {
		var err error
		if r, err = layer(); err != nil {
			return err
		}
		defer r.Close()
	}
	var img *image.Image
	var err error
	if r != nil {
		img, err = b.store.Commit(b.parent, r, cfg, b.o.Tracer)
	} else {
		img, err = b.store.Commit(b.parent, nil, cfg, b.o.Tracer)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, " ---> %s\n", short(img.ID))
	b.parent, b.cfg = img, img.Config
	return nil
}

// useCache makes hit, the image a previous build made for this step, the
// step's image, through the images-build-cache step.
func (b *builder) useCache(hit *image.Image) error {
	step := stepBuildCache(b.text)
	step.Do = func() error {
		fmt.Fprintf(b.out, " ---> Using cache\n ---> %s\n", short(hit.ID))
		b.parent, b.cfg = hit, hit.Config
		return nil
	}
	step.EvidenceText = func() explain.Text {
		return explain.Text{PT: "mesma imagem do build anterior: " + hit.ID, EN: "same image as the previous build: " + hit.ID}
	}
	return b.o.Tracer.Do(step, nil)
}

// cached finds an image built earlier on the same parent by the same
// instruction: the classic builder's cache. The instruction is compared
// by its history text (which, for COPY and ADD, holds the content hash of
// the files, and for RUN the ARG values), and the process config must be
// the one this step would produce.
func (b *builder) cached(cfg v1.Image, createdBy string, withLayer bool) (*image.Image, error) {
	if b.o.NoCache {
		return nil, nil
	}
	parentID := ""
	var parentLayers int
	if b.parent != nil {
		parentID = b.parent.ID
		parentLayers = len(b.parent.Config.RootFS.DiffIDs)
	}
	kids, err := b.store.Children(parentID)
	if err != nil {
		return nil, err
	}
	want, _ := json.Marshal(cfg.Config)
	for _, k := range kids {
		h := k.Config.History
		if len(h) == 0 || h[len(h)-1].CreatedBy != createdBy || h[len(h)-1].EmptyLayer == withLayer {
			continue
		}
		nl := len(k.Config.RootFS.DiffIDs)
		if (withLayer && nl != parentLayers+1) || (!withLayer && nl != parentLayers) {
			continue
		}
		if got, _ := json.Marshal(k.Config.Config); !bytes.Equal(got, want) {
			continue
		}
		return k, nil
	}
	return nil, nil
}

// newContainerID makes the 12-hex-digit id of a RUN step's container.
func newContainerID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
