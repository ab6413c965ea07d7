package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names inside a configuration directory.
const (
	HACFName        = "ha.cf"
	AuthkeysName    = "authkeys"
	HaresourcesName = "haresources"
	LdirectordName  = "ldirectord.cf"
)

// DefaultDir is where Heartbeat keeps its files.
const DefaultDir = "/etc/ha.d"

// Config is a whole configuration directory, parsed and cross-checked.
// Members are nil when their file is absent (ha.cf and authkeys are required).
type Config struct {
	Dir        string
	HA         *HAConfig
	Auth       *Authkeys
	Resources  *Haresources
	Ldirectord []*LdirectordConfig
	Digests    map[string]string // file name -> sha256 hex of its bytes
}

// LoadOptions adjusts Load for tests and packaging.
type LoadOptions struct {
	// InitDir is where LSB init scripts live; "" means /etc/init.d.
	InitDir string
	// ReadFile reads a file; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Stat stats a file; nil means os.Stat.
	Stat func(string) (fs.FileInfo, error)
}

// ErrNoDir is returned when the configuration directory itself cannot be
// read: check-config then exits 2 ("could not run") rather than 1.
var ErrNoDir = errors.New("configuration directory not readable")

// Load reads and checks every file of dir: ha.cf and authkeys (required),
// haresources and ldirectord.cf when present, and every ldirectord.cf that a
// haresources ldirectord resource names. It returns everything it could
// parse and every problem found; err is non-nil only when dir itself is
// unusable.
func Load(dir string, opt LoadOptions) (*Config, Diags, error) {
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	if opt.Stat == nil {
		opt.Stat = os.Stat
	}
	if opt.InitDir == "" {
		opt.InitDir = "/etc/init.d"
	}
	st, err := opt.Stat(dir)
	if err != nil {
		return nil, nil, errors.Join(ErrNoDir, err)
	}
	if !st.IsDir() {
		return nil, nil, errors.Join(ErrNoDir, errors.New(dir+" is not a directory"))
	}
	c := &Config{Dir: dir, Digests: map[string]string{}}
	var ds Diags

	read := func(name string, required bool) ([]byte, string, bool) {
		path := filepath.Join(dir, name)
		data, err := opt.ReadFile(path)
		if err != nil {
			if required || !errors.Is(err, fs.ErrNotExist) {
				ds.Errorf(path, 0, "cannot read: %v", unwrapPathError(err))
			}
			return nil, path, false
		}
		c.Digests[name] = digest(data)
		return data, path, true
	}

	if data, path, ok := read(HACFName, true); ok {
		c.HA = ParseHACF(path, data, &ds)
	}
	if data, path, ok := read(AuthkeysName, true); ok {
		if fi, err := opt.Stat(path); err == nil {
			CheckAuthkeysMode(path, fi.Mode(), &ds)
		}
		c.Auth = ParseAuthkeys(path, data, &ds)
	}
	if data, path, ok := read(HaresourcesName, false); ok {
		c.Resources = ParseHaresources(path, data, &ds)
		ResolveResources(c.Resources, ScriptLookup(dir, opt.InitDir), &ds)
	} else if _, err := opt.Stat(path); errors.Is(err, fs.ErrNotExist) && c.HA != nil && c.HA.CrmLine == 0 {
		// Heartbeat without a CRM refuses to start with no haresources.
		ds.Errorf(path, 0, "missing: Heartbeat without a CRM does not start without it, nor does hbgo; create it (empty on a node that runs no group, a witness)")
	}

	// ldirectord.cf files: the default one, and those haresources names.
	seen := map[string]bool{}
	names := []string{LdirectordName}
	defaultNamed := false // a bare "ldirectord" resource uses the default file
	if c.Resources != nil {
		for _, g := range c.Resources.Groups {
			for _, r := range g.Resources {
				if r.Name != "ldirectord" {
					continue
				}
				if len(r.Args) > 0 && r.Args[0] != "" {
					names = append(names, r.Args[0])
				} else {
					defaultNamed = true
				}
			}
		}
	}
	// The list grows with the configurations their execute lines name
	// (ldirectord starts one ldirector for each), read like the others.
	parsed := func(lc *LdirectordConfig) *LdirectordConfig {
		if lc != nil {
			for _, e := range lc.Execute {
				names = append(names, e.Config)
			}
		}
		return lc
	}
	for i := 0; i < len(names); i++ {
		name := names[i]
		rel := name
		if filepath.IsAbs(name) {
			if r, err := filepath.Rel(dir, name); err == nil && !strings.HasPrefix(r, "..") {
				rel = r
			}
		}
		if seen[rel] {
			continue
		}
		seen[rel] = true
		if filepath.IsAbs(rel) {
			// Outside the directory: read it where it is.
			data, err := opt.ReadFile(rel)
			if err != nil {
				ds.Errorf(rel, 0, "cannot read: %v", unwrapPathError(err))
				continue
			}
			c.Digests[rel] = digest(data)
			c.Ldirectord = append(c.Ldirectord, parsed(ParseLdirectord(rel, data, &ds)))
			continue
		}
		if data, path, ok := read(rel, i > 0 || defaultNamed); ok {
			c.Ldirectord = append(c.Ldirectord, parsed(ParseLdirectord(path, data, &ds)))
		}
	}

	// ldirectord refuses a log file whose directory does not exist.
	for _, lc := range c.Ldirectord {
		if lc == nil || lc.LogFileLine == 0 || !strings.HasPrefix(lc.LogFile, "/") {
			continue
		}
		d := filepath.Dir(lc.LogFile)
		if fi, err := opt.Stat(d); err != nil || !fi.IsDir() {
			ds.Errorf(lc.File, lc.LogFileLine, "logfile %s: directory %s does not exist (ldirectord refuses to start so); create it or log to a syslog facility (logfile = \"local0\")", lc.LogFile, d)
		}
	}
	crossCheck(c, &ds)
	ds.Sort()
	return c, ds, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
