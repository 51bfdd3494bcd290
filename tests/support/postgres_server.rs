//! A real PostgreSQL server for the tests: `initdb` and `pg_ctl` into a temporary directory,
//! listening on a free loopback port, as the unprivileged `postgres` user when the tests run as
//! root (the server refuses to run as root); stopped and removed on drop. A test that needs one
//! fails with a clear message when it cannot start one: never a silent skip.
//!
//! The binaries are looked for in `PG_BIN`, then in Debian's `/usr/lib/postgresql/<version>/bin`
//! (newest first), then on `PATH`. `scripts/test` installs Debian's `postgresql` when missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL server with a database `webhooks`.
#[derive(Debug)]
pub struct PostgresServer {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    as_postgres: bool,
    running: bool,
}

/// The directory that holds `initdb`, `pg_ctl` and `psql`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "cannot find PostgreSQL's initdb and pg_ctl (in PG_BIN, /usr/lib/postgresql/<version>/bin or PATH): run the tests with scripts/test, which installs them (Debian: apt-get install postgresql)"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PostgresServer {
    /// Starts one on a free port, creates the database `webhooks`, and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one with extra server settings (`["-c", "synchronous_commit=off"]`).
    pub fn start_with(settings: &[&str]) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!(
            "wr-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("socket")).expect("create the server's directory");
        let mut server = Self {
            port: super::process::free_port().port(),
            bin,
            dir,
            as_postgres,
            running: false,
        };
        if as_postgres {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&server.dir)
                .status();
            assert!(
                matches!(chown, Ok(s) if s.success()),
                "cannot chown {} to the postgres user ({chown:?}): as root the tests run the server as `postgres` (Debian's postgresql package creates it)",
                server.dir.display()
            );
        }
        let data = server.dir.join("data");
        let out = server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            server.port,
            server.dir.join("socket").display()
        );
        for s in settings {
            options.push(' ');
            options.push_str(s);
        }
        std::fs::write(server.dir.join("options"), &options).unwrap();
        server.pg_start();
        let out = server.psql("postgres", "CREATE DATABASE webhooks");
        assert!(
            out.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    /// (Re)starts the server on its port and data directory, and waits until it accepts
    /// connections.
    pub fn pg_start(&mut self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let options = std::fs::read_to_string(self.dir.join("options")).unwrap();
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "start".as_ref(),
            ],
        );
        if !out.status.success() {
            panic!(
                "pg_ctl start failed: {}{}\nserver log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.running = true;
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, as in a
    /// crash of the server).
    pub fn pg_stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.dir.join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        );
        self.running = false;
    }

    /// Runs `sql` with `psql` in `database`, as the `postgres` role.
    pub fn psql(&self, database: &str, sql: &str) -> Output {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-d".as_ref(),
                database.as_ref(),
                "-v".as_ref(),
                "ON_ERROR_STOP=1".as_ref(),
                "-Atc".as_ref(),
                sql.as_ref(),
            ],
        )
    }

    /// `postgres://postgres@127.0.0.1:<port>/webhooks`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/webhooks", self.port)
    }

    /// The server's data directory.
    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.pg_stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
