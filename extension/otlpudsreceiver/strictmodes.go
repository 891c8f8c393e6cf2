package otlpudsreceiver // import "github.com/tracebound/tracebound/extension/otlpudsreceiver"

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Folder checks at start, after OpenSSH's StrictModes.
//
// Whoever may write a folder on the way to the socket may rename the live
// socket away and bind their own at its path: producers then send their
// spans (routing header included) to that process, and nothing fails. So
// every folder the kernel walks through to reach the socket's folder, from
// the root, resolving symlinks as it does, must be
//   - owned by root or by the collector's user, and
//   - writable by nobody else: no write bit for others, and no write bit for
//     the group unless every member of the group is root or the collector's
//     user (a user-private group, as Debian's OpenSSH accepts).
// A folder writable by others but with the sticky bit (/tmp, 1777) cannot
// lose an entry that root or the collector's user owns, so it passes; if it
// is the socket's own folder, the socket's path can still be taken by
// anyone before the collector starts, which is warned about.

// maxSymlinkHops bounds symlink resolution, as the kernel does (40).
const maxSymlinkHops = 40

// folderVerdict is what the check makes of one folder.
type folderVerdict int

const (
	folderSafe folderVerdict = iota
	// folderShared: writable by others, sticky: entries owned by trusted
	// users stay put, but new names can be taken.
	folderShared
	// folderUnsafe: others could move the socket or its folder away.
	folderUnsafe
)

// folderFinding is a folder that is not safe, and why.
type folderFinding struct {
	dir     string
	mode    fs.FileMode
	uid     uint32
	gid     uint32
	verdict folderVerdict
	reason  string // for folderUnsafe: who else may write, or who owns it
}

// folderTrust decides whom a folder may belong to and be written by.
type folderTrust struct {
	euid uint32
	// groupMembers lists the uids of a group's members (primary and
	// supplementary); ok is false when the group is unknown.
	groupMembers func(gid uint32) (uids []uint32, ok bool)
}

func defaultFolderTrust() folderTrust {
	return folderTrust{euid: uint32(os.Geteuid()), groupMembers: localGroupMembers}
}

func (t folderTrust) trusted(uid uint32) bool { return uid == 0 || uid == t.euid }

// judge checks one folder.
func (t folderTrust) judge(dir string, fi fs.FileInfo) folderFinding {
	f := folderFinding{dir: dir, mode: fi.Mode()}
	uid, gid, ok := fileOwner(fi)
	if !ok {
		return f // no owner to check on this platform
	}
	f.uid, f.gid = uid, gid
	if !t.trusted(uid) {
		f.verdict = folderUnsafe
		f.reason = fmt.Sprintf("is owned by uid %d, neither root nor the collector's user (uid %d)", uid, t.euid)
		return f
	}
	perm := fi.Mode().Perm()
	var writers []string
	if perm&0o020 != 0 && !t.groupTrusted(gid) {
		writers = append(writers, fmt.Sprintf("group %d", gid))
	}
	if perm&0o002 != 0 {
		writers = append(writers, "all users")
	}
	if len(writers) == 0 {
		return f
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		f.verdict = folderShared
		return f
	}
	f.verdict = folderUnsafe
	f.reason = "can be written by " + strings.Join(writers, " and ") + ", not only by its owner and root"
	return f
}

// groupTrusted tells whether every member of gid is root or the
// collector's user; a group nobody is known to be in is not trusted.
func (t folderTrust) groupTrusted(gid uint32) bool {
	if t.groupMembers == nil {
		return false
	}
	uids, ok := t.groupMembers(gid)
	if !ok || len(uids) == 0 {
		return false
	}
	for _, u := range uids {
		if !t.trusted(u) {
			return false
		}
	}
	return true
}

// checkFolders judges every folder path resolution passes through on the
// way to dir, from the root, following symlinks the way the kernel does
// (the folder holding a symlink is judged, then the folders of its target).
// It stops at the first missing component: the receiver creates the rest.
// It returns the folders that are not safe, in walk order.
func (t folderTrust) checkFolders(dir string) ([]folderFinding, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var findings []folderFinding
	seen := map[string]bool{}
	judge := func(p string, fi fs.FileInfo) {
		if seen[p] {
			return
		}
		seen[p] = true
		if f := t.judge(p, fi); f.verdict != folderSafe {
			findings = append(findings, f)
		}
	}
	rootInfo, err := os.Stat("/")
	if err != nil {
		return nil, err
	}
	judge("/", rootInfo)

	cur := "/"
	todo := splitPath(abs)
	hops := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if name == "." || name == "" {
			continue
		}
		if name == ".." {
			cur = filepath.Dir(cur) // cur holds no symlink: lexical is real
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			// Created by the receiver; a component found here that is not
			// a folder makes that creation fail with its own error.
			return findings, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			hops++
			if hops > maxSymlinkHops {
				return nil, fmt.Errorf("too many symlinks resolving %q", abs)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return nil, err
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			todo = append(splitPath(target), todo...)
		case fi.IsDir():
			judge(next, fi)
			cur = next
		default:
			return findings, nil
		}
	}
	return findings, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// folderModeFor is the mode of a folder the receiver creates for a socket
// of socketMode: the owner has every right; the group and others may only
// search it (x, never list or write), and only if the socket lets them
// connect (connect(2) needs write permission on the socket). The default
// 0660 gives 0710.
func folderModeFor(socketMode uint32) fs.FileMode {
	m := fs.FileMode(0o700)
	if socketMode&0o020 != 0 {
		m |= 0o010
	}
	if socketMode&0o002 != 0 {
		m |= 0o001
	}
	return m
}

// makeSocketFolder creates the missing folders of dir, each owned by the
// collector's user, given group gid (-1: the collector's group) and mode:
// created 0700, then chowned, then chmodded, so never more open than mode.
// An explicit chmod rather than the umask decides, so that the socket's
// group can always reach the socket. A folder that appears meanwhile is
// left as found (the folder check that follows judges it).
func makeSocketFolder(dir string, mode fs.FileMode, gid int) (created []string, err error) {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("creating folder: %q is not a folder", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("creating folder: %w", err)
		}
		missing = append(missing, p)
		if parent := filepath.Dir(p); parent == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, 0o700); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return created, fmt.Errorf("creating folder: %w", err)
		}
		created = append(created, p)
		if gid >= 0 {
			if err := os.Lchown(p, -1, gid); err != nil {
				return created, fmt.Errorf("creating folder %q: setting socket_group (gid %d): %w", p, gid, err)
			}
		}
		if err := os.Chmod(p, mode); err != nil {
			return created, fmt.Errorf("creating folder %q: %w", p, err)
		}
	}
	return created, nil
}

// folderGuard prepares the socket's folder at start and when the socket is
// recreated: it checks the folders on the way, creates what is missing and
// checks again.
type folderGuard struct {
	trust  folderTrust
	strict bool // strict_folder_modes
}

// prepare checks the folders leading to path's folder and creates the
// missing ones with folderModeFor(opts.mode) and opts.gid. An unsafe
// folder is an error when strict, a warning otherwise; a shared (sticky,
// writable by others) socket folder is a warning either way.
func (g folderGuard) prepare(path string, opts socketOptions) (warnings []string, err error) {
	dir := filepath.Dir(path)
	findings, err := g.trust.checkFolders(dir)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: checking its folders: %w", path, err)
	}
	// Nothing is created inside a folder others could tamper with.
	if err = g.refuse(path, findings); err != nil {
		return nil, err
	}
	created, err := makeSocketFolder(dir, folderModeFor(opts.mode), opts.gid)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", path, err)
	}
	if len(created) > 0 {
		// A folder that appeared between the check and its creation is
		// judged now.
		if findings, err = g.trust.checkFolders(dir); err != nil {
			return nil, fmt.Errorf("endpoint %q: checking its folders: %w", path, err)
		}
		if err = g.refuse(path, findings); err != nil {
			return nil, err
		}
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		realDir = dir
	}
	for _, f := range findings {
		switch {
		case f.verdict == folderUnsafe: // strict is off
			warnings = append(warnings, unsafeFolderMessage(path, f)+"; strict_folder_modes is false, so the receiver starts anyway")
		case f.verdict == folderShared && sameDir(f.dir, realDir):
			warnings = append(warnings, sharedFolderMessage(path, f))
		}
	}
	return warnings, nil
}

func (g folderGuard) refuse(path string, findings []folderFinding) error {
	if !g.strict {
		return nil
	}
	for _, f := range findings {
		if f.verdict == folderUnsafe {
			return errors.New(unsafeFolderMessage(path, f) +
				"; or set strict_folder_modes: false to start anyway")
		}
	}
	return nil
}

func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// octalMode writes a folder's permission and special bits as chmod takes
// them (1777, 0777).
func octalMode(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	return fmt.Sprintf("%04o", n)
}

func unsafeFolderMessage(path string, f folderFinding) string {
	var fix string
	if strings.HasPrefix(f.reason, "is owned") {
		fix = fmt.Sprintf("give the folder to root or the collector's user (chown %d %s)", os.Geteuid(), f.dir)
	} else {
		fix = fmt.Sprintf("let only its owner write it (chmod go-w %s), or, for a folder every user must write to like /tmp, set the sticky bit (chmod +t %s)", f.dir, f.dir)
	}
	return fmt.Sprintf("endpoint %q: folder %q (mode %s, owner uid %d, group %d) %s: anyone who can write it can move the socket away and listen in its place, receiving what producers send; %s, or put the socket in a folder only root and the collector's user can write",
		path, f.dir, octalMode(f.mode), f.uid, f.gid, f.reason, fix)
}

func sharedFolderMessage(path string, f folderFinding) string {
	return fmt.Sprintf("endpoint %q: the socket's folder %q (mode %s) can be written by other users: the sticky bit keeps them from moving the socket while the collector runs, but any of them can take the path before it starts (or between two runs) and bind a socket of their own, which producers would then send to; put the socket in a folder of its own that only root and the collector's user can write (e.g. %s)",
		path, f.dir, octalMode(f.mode), filepath.Join(f.dir, "tracebound", filepath.Base(path)))
}

// Group membership, from the local databases.
var (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// localGroupMembers lists the uids of the users whose primary group is
// gid (passwdFile) and of its supplementary members (groupFile). A group
// that groupFile does not list, or a member whose name passwdFile does not
// know, makes the answer unknown (ok false): users from a directory
// service (LDAP, sssd) cannot be enumerated here, so such a group is never
// taken for a private one.
func localGroupMembers(gid uint32) ([]uint32, bool) {
	byName := map[string]uint32{}
	var uids []uint32
	okPasswd := scanColonFile(passwdFile, func(fields []string) {
		if len(fields) < 4 {
			return
		}
		uid, err1 := strconv.ParseUint(fields[2], 10, 32)
		pgid, err2 := strconv.ParseUint(fields[3], 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		byName[fields[0]] = uint32(uid)
		if uint32(pgid) == gid {
			uids = append(uids, uint32(uid))
		}
	})
	if !okPasswd {
		return nil, false
	}
	found, known := false, true
	okGroup := scanColonFile(groupFile, func(fields []string) {
		if len(fields) < 4 {
			return
		}
		g, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil || uint32(g) != gid {
			return
		}
		found = true
		for _, name := range strings.Split(fields[3], ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			uid, ok := byName[name]
			if !ok {
				known = false
				continue
			}
			uids = append(uids, uid)
		}
	})
	if !okGroup || !found || !known {
		return nil, false
	}
	return uids, true
}

// scanColonFile calls fn with the fields of each line of a passwd-style
// file, skipping comments; false if unreadable or if the file defers to
// NIS ("+" or "-" lines), whose entries cannot be read here.
func scanColonFile(path string, fn func(fields []string)) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '+' || line[0] == '-' {
			return false
		}
		fn(strings.Split(line, ":"))
	}
	return sc.Err() == nil
}
