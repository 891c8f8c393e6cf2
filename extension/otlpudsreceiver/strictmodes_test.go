package otlpudsreceiver

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"
)

// folderWithMode creates dir/name with exactly mode (no umask).
func folderWithMode(t *testing.T, dir, name string, mode fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.Mkdir(p, 0o700))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func configAt(path string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = path
	return cfg
}

// assertNothingCreated checks that a refused start left dir as it was.
func assertNothingCreated(t *testing.T, dir string, want int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, want, "a refused start creates nothing (no socket, no bind folder)")
}

// TestStrictModesRefuseWorldWritableFolder plays the hijack of issue 12: a
// socket in a folder anyone can write (0777, no sticky bit) could be moved
// away and replaced by another user's listener. Start is refused, the
// error naming the folder, its mode and the fixes.
func TestStrictModesRefuseWorldWritableFolder(t *testing.T) {
	open := folderWithMode(t, shortTempDir(t), "open", 0o777)
	lr := newLoggedReceiver(t, configAt(filepath.Join(open, "otlp.sock")))
	err := lr.start()
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, strconv.Quote(open))
	assert.Contains(t, msg, "mode 0777")
	assert.Contains(t, msg, "can be written by all users")
	assert.Contains(t, msg, "move the socket away and listen in its place")
	assert.Contains(t, msg, "chmod go-w "+open)
	assert.Contains(t, msg, "chmod +t "+open)
	assert.Contains(t, msg, "strict_folder_modes: false")
	assertNothingCreated(t, open, 0)
}

// TestStrictModesRefuseUnsafeAncestor: a folder further up is as good a
// place to move the socket's folder away; it is named, and the missing
// folders below it are not created.
func TestStrictModesRefuseUnsafeAncestor(t *testing.T) {
	open := folderWithMode(t, shortTempDir(t), "open", 0o777)
	folderWithMode(t, open, "mine", 0o755)
	lr := newLoggedReceiver(t, configAt(filepath.Join(open, "mine", "new", "otlp.sock")))
	err := lr.start()
	require.ErrorContains(t, err, "folder "+strconv.Quote(open)+" (mode 0777")
	_, statErr := os.Lstat(filepath.Join(open, "mine", "new"))
	assert.ErrorIs(t, statErr, fs.ErrNotExist, "nothing is created under an unsafe folder")
}

// TestStrictModesOptOut: strict_folder_modes: false starts in the same
// folder, with a warning naming the folder and the risk.
func TestStrictModesOptOut(t *testing.T) {
	open := folderWithMode(t, shortTempDir(t), "open", 0o777)
	cfg := configAt(filepath.Join(open, "otlp.sock"))
	cfg.StrictFolderModes = false
	lr := newLoggedReceiver(t, cfg)
	require.NoError(t, lr.start())
	warns := lr.messages(zapcore.WarnLevel)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], strconv.Quote(open)+" (mode 0777")
	assert.Contains(t, warns[0], "strict_folder_modes is false, so the receiver starts anyway")
	assert.Equal(t, http.StatusOK, postOnce(t, cfg.ServerConfig.NetAddr.Endpoint))
}

// TestStrictModesStickyFolderWarns: in a sticky world-writable folder
// (1777, /tmp) the socket cannot be moved by others, so start goes on, but
// the path can be taken before the collector starts: a warning says so.
func TestStrictModesStickyFolderWarns(t *testing.T) {
	shared := folderWithMode(t, shortTempDir(t), "shared", 0o777|fs.ModeSticky)
	fi, err := os.Stat(shared)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&fs.ModeSticky)
	cfg := configAt(filepath.Join(shared, "otlp.sock"))
	lr := newLoggedReceiver(t, cfg)
	require.NoError(t, lr.start())
	warns := lr.messages(zapcore.WarnLevel)
	require.Len(t, warns, 1)
	assert.Contains(t, warns[0], strconv.Quote(shared)+" (mode 1777)")
	assert.Contains(t, warns[0], "any of them can take the path before it starts")
	assert.Equal(t, http.StatusOK, postOnce(t, cfg.ServerConfig.NetAddr.Endpoint))
}

// TestStrictModesTempFoldersStartQuietly: the usual test and development
// places start without a word: a private folder under /tmp (1777 is only
// an ancestor there: what lies in it is owned by us and cannot be moved),
// t.TempDir(), and a relative run/ folder the receiver creates.
func TestStrictModesTempFoldersStartQuietly(t *testing.T) {
	check := func(t *testing.T, cfg *Config) {
		lr := newLoggedReceiver(t, cfg)
		require.NoError(t, lr.start())
		assert.Empty(t, lr.messages(zapcore.WarnLevel))
		assert.Empty(t, lr.messages(zapcore.ErrorLevel))
	}
	t.Run("MkdirTemp", func(t *testing.T) { check(t, testConfig(t)) })
	t.Run("TempDir", func(t *testing.T) {
		dir := t.TempDir()
		if len(dir) > 80 {
			dir = shortTempDir(t)
		}
		check(t, configAt(filepath.Join(dir, "otlp.sock")))
	})
	t.Run("relative run folder", func(t *testing.T) {
		t.Chdir(shortTempDir(t))
		check(t, configAt(filepath.Join("run", "otlp.sock")))
	})
}

// TestStrictModesForeignOwner: a folder owned by another user (not root)
// is that user's to empty; refused like OpenSSH does.
func TestStrictModesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a folder to another user")
	}
	theirs := folderWithMode(t, shortTempDir(t), "theirs", 0o755)
	require.NoError(t, os.Chown(theirs, 65534, 65534))
	lr := newLoggedReceiver(t, configAt(filepath.Join(theirs, "otlp.sock")))
	err := lr.start()
	require.ErrorContains(t, err, "is owned by uid 65534, neither root nor the collector's user (uid 0)")
	assert.ErrorContains(t, err, "chown 0 "+theirs)
}

// TestStrictModesGroupWritable: a group-writable folder is refused when
// the group has members other than root and the collector's user, on the
// system's own group database (nogroup, 65534, holds nobody).
func TestStrictModesGroupWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a folder to another group")
	}
	if uids, ok := localGroupMembers(65534); !ok || len(uids) == 0 {
		t.Skip("gid 65534 has no known members here")
	}
	grp := folderWithMode(t, shortTempDir(t), "grp", 0o770)
	require.NoError(t, os.Chown(grp, 0, 65534))
	lr := newLoggedReceiver(t, configAt(filepath.Join(grp, "otlp.sock")))
	require.ErrorContains(t, lr.start(), "(mode 0770, owner uid 0, group 65534) can be written by group 65534, not only by its owner and root")
}

// TestStrictModesSymlinks: the folders the kernel walks through count,
// both the one holding a symlink and those of its target.
func TestStrictModesSymlinks(t *testing.T) {
	t.Run("link in an open folder", func(t *testing.T) {
		base := shortTempDir(t)
		open := folderWithMode(t, base, "open", 0o777)
		safe := folderWithMode(t, base, "safe", 0o755)
		require.NoError(t, os.Symlink(safe, filepath.Join(open, "l")))
		lr := newLoggedReceiver(t, configAt(filepath.Join(open, "l", "otlp.sock")))
		require.ErrorContains(t, lr.start(), "folder "+strconv.Quote(open)+" (mode 0777")
	})
	t.Run("link to an open folder", func(t *testing.T) {
		base := shortTempDir(t)
		open := folderWithMode(t, base, "open", 0o777)
		safe := folderWithMode(t, base, "safe", 0o755)
		require.NoError(t, os.Symlink("../open", filepath.Join(safe, "l")))
		lr := newLoggedReceiver(t, configAt(filepath.Join(safe, "l", "otlp.sock")))
		require.ErrorContains(t, lr.start(), "folder "+strconv.Quote(open)+" (mode 0777")
	})
	t.Run("link between safe folders", func(t *testing.T) {
		base := shortTempDir(t)
		safe := folderWithMode(t, base, "safe", 0o755)
		require.NoError(t, os.Symlink(safe, filepath.Join(base, "l")))
		cfg := configAt(filepath.Join(base, "l", "otlp.sock"))
		lr := newLoggedReceiver(t, cfg)
		require.NoError(t, lr.start())
		assert.Equal(t, http.StatusOK, postOnce(t, cfg.ServerConfig.NetAddr.Endpoint))
	})
}

// TestCreatedFolderModes: a folder the receiver creates is no wider than
// the socket needs: its group (and others) may only search it, and only if
// socket_mode lets them connect; it gets socket_group. A tight umask does
// not lock the group out.
func TestCreatedFolderModes(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	for _, tc := range []struct {
		socketMode string
		want       fs.FileMode
	}{
		{"0600", 0o700},
		{"0660", 0o710},
		{"0640", 0o700},
		{"0666", 0o711},
	} {
		t.Run(tc.socketMode, func(t *testing.T) {
			dir := shortTempDir(t)
			cfg := configAt(filepath.Join(dir, "a", "b", "otlp.sock"))
			cfg.SocketMode = tc.socketMode
			if os.Geteuid() == 0 {
				cfg.SocketGroup = "65534"
			}
			cons, _, _, _ := sinks()
			startReceiver(t, cfg, cons)
			for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
				fi, err := os.Stat(p)
				require.NoError(t, err)
				assert.Equal(t, tc.want, fi.Mode().Perm(), p)
				st := fi.Sys().(*syscall.Stat_t)
				assert.Equal(t, uint32(os.Geteuid()), st.Uid)
				if os.Geteuid() == 0 {
					assert.Equal(t, uint32(65534), st.Gid, "created folders get socket_group")
				}
			}
		})
	}
}

// TestFolderTrustGroups judges group-writable folders on a group database
// of the test's own: a user-private group (only the collector's user, or
// root) passes, as Debian's OpenSSH accepts; a group with anyone else, an
// unknown group or an empty one does not.
func TestFolderTrustGroups(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	require.NoError(t, os.WriteFile(passwd, []byte(
		"root:x:0:0:root:/root:/bin/sh\n"+
			"# a comment\n"+
			"otel:x:1000:1000::/home/otel:/bin/sh\n"+
			"app:x:1001:1001::/home/app:/bin/sh\n"+
			"other:x:1002:1000::/home/other:/bin/sh\n"), 0o600))
	require.NoError(t, os.WriteFile(group, []byte(
		"root:x:0:\n"+
			"otel:x:1000:\n"+ // primary of otel and other
			"app:x:1001:\n"+
			"adm:x:4:otel,root\n"+
			"mixed:x:5:otel,app\n"+
			"ghost:x:6:nosuchuser\n"+
			"empty:x:7:\n"), 0o600))
	oldP, oldG := passwdFile, groupFile
	passwdFile, groupFile = passwd, group
	t.Cleanup(func() { passwdFile, groupFile = oldP, oldG })

	tr := folderTrust{euid: 1001, groupMembers: localGroupMembers} // the collector runs as app
	for gid, want := range map[uint32]bool{
		0:    true,  // root only
		1001: true,  // app's private group
		1000: false, // otel and other
		4:    false, // otel is a member
		5:    false, // otel and app
		6:    false, // a member nobody knows
		7:    false, // no member at all
		9:    false, // not in the database
	} {
		assert.Equal(t, want, tr.groupTrusted(gid), "gid %d", gid)
	}

	// NIS entries cannot be read: unknown.
	require.NoError(t, os.WriteFile(passwd, []byte("root:x:0:0::/:/bin/sh\n+::::::\n"), 0o600))
	_, ok := localGroupMembers(0)
	assert.False(t, ok)
}

// TestFolderTrustJudge covers the verdicts on synthetic folder infos.
func TestFolderTrustJudge(t *testing.T) {
	tr := folderTrust{euid: 1000, groupMembers: func(gid uint32) ([]uint32, bool) {
		if gid == 1000 {
			return []uint32{1000}, true
		}
		return []uint32{1000, 1001}, true
	}}
	dir := shortTempDir(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to set owners")
	}
	for _, tc := range []struct {
		mode     fs.FileMode
		uid, gid int
		want     folderVerdict
	}{
		{0o755, 0, 0, folderSafe},
		{0o755, 1000, 1000, folderSafe},
		{0o755, 1001, 1001, folderUnsafe},  // someone else's
		{0o775, 1000, 1000, folderSafe},    // private group
		{0o775, 1000, 1001, folderUnsafe},  // shared group
		{0o777, 0, 0, folderUnsafe},        // everyone
		{0o1777, 0, 0, folderShared},       // /tmp
		{0o1775, 0, 1001, folderShared},    // sticky, shared group
		{0o1777, 1001, 1001, folderUnsafe}, // sticky but someone else's: they may delete
		{0o2755, 1000, 1000, folderSafe},   // setgid changes nothing
		{0o757, 1000, 1000, folderUnsafe},  // others write, group not
		{0o1757, 1000, 1000, folderShared}, // same with sticky
		{0o3777, 0, 0, folderShared},       // setgid and sticky
		{0o0700, 1000, 1000, folderSafe},   // private
		{0o0730, 1000, 1000, folderSafe},   // private group writes
		{0o0730, 1000, 1002, folderUnsafe}, // another group writes
		{0o0703, 1000, 1000, folderUnsafe}, // others write
		{0o1703, 1000, 1000, folderShared}, // others write, sticky
		{0o0711, 0, 0, folderSafe},         // search only
		{0o0555, 1000, 1000, folderSafe},   // read-only
		{0o0777 | 0o1000, 0, 0, folderShared},
	} {
		p := filepath.Join(dir, "f")
		require.NoError(t, os.Mkdir(p, 0o700))
		require.NoError(t, os.Chown(p, tc.uid, tc.gid))
		require.NoError(t, os.Chmod(p, fileModeFromOctal(uint32(tc.mode))))
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, tc.want, tr.judge(p, fi).verdict, "%s uid %d gid %d", octalMode(fi.Mode()), tc.uid, tc.gid)
		require.NoError(t, os.Remove(p))
	}
}

// fileModeFromOctal turns chmod's octal (with 01000 sticky, 02000 setgid)
// into an fs.FileMode for os.Chmod.
func fileModeFromOctal(n uint32) fs.FileMode {
	m := fs.FileMode(n & 0o777)
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	return m
}

// TestFolderModeFor spells out the modes of created folders.
func TestFolderModeFor(t *testing.T) {
	for mode, want := range map[uint32]fs.FileMode{
		0o600: 0o700, 0o660: 0o710, 0o640: 0o700, 0o620: 0o710, 0o666: 0o711, 0o606: 0o701, 0o777: 0o711,
	} {
		assert.Equal(t, want, folderModeFor(mode), "%04o", mode)
	}
}
