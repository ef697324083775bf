//! The files a run writes on a host other users share: `tmp_file_root` is checked before anything is
//! written (another user's folder or link is refused, a folder open to others without the sticky bit
//! too; a shared sticky folder gets a private sub-folder), reports are this user's only unless
//! `report_group_readable`, and each action and release keeps its newest `report_keep` runs'
//! reports. The second user is `nobody`; the tests run as root (they say so and stop otherwise).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use copy_containers::promote::{PromoteArgs, Promotion, RegistryArgs};
use copy_containers::report::Report;

use common::*;

const NOBODY: u32 = 65534;

fn root_or_skip() -> bool {
    let root = rustix_euid() == 0;
    if !root {
        eprintln!("skipped: these tests give files to another user (chown), which needs root");
    }
    root
}

fn rustix_euid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A registry nobody listens on (loopback, refused at once).
fn nowhere() -> RegistryArgs {
    proxy_args("127.0.0.1:9", NS)
}

fn promotion(tmp_file_root: &Path, store: &Path) -> Promotion {
    let mut a: PromoteArgs = promote_args(nowhere(), vec![nowhere()], &["nova-compute"], store);
    a.tmp_file_root = Some(tmp_file_root.to_path_buf());
    a.retries = Some(1);
    a.keep_local = Some("never".into());
    a.resolve(copy_containers::promote::model::read_list_file)
        .unwrap()
}

async fn promote(p: &Promotion) -> Report {
    copy_containers::verbs::promote(p, false, &copy_containers::progress::Progress::none()).await
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// `tmp_file_root` another user could have chosen is refused, nothing written where it points; the
/// error says why and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tmp_file_root_another_user_controls_is_refused_and_nothing_is_written() {
    if !root_or_skip() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // Another user's link (as planted under /var/tmp before the first run).
    let link = d.path().join("promoter_logs_link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();
    // Another user's folder.
    let theirs = d.path().join("promoter_logs_theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    // A folder anyone can write, without the sticky bit.
    let open = d.path().join("promoter_logs_open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    for (dir, why) in [
        (&link, "symbolic link of another user"),
        (&theirs, "belongs to another user"),
        (&open, "writable by other users (mode 777) without the sticky bit"),
    ] {
        let r = promote(&promotion(dir, &d.path().join("store"))).await;
        assert!(!r.ok);
        let all = r.errors.join("\n");
        assert_eq!(r.errors.len(), 1, "one cause, one message: {all}");
        assert!(
            all.contains(&format!("tmp_file_root {}", dir.display()))
                && all.contains(why)
                && all.contains("set tmp_file_root to a folder of this user's"),
            "{}: {all}",
            dir.display()
        );
        assert!(r.files.is_empty(), "{:?}", r.files);
        assert!(names(dir).is_empty(), "{}: {:?}", dir.display(), names(dir));
    }
    assert!(names(&elsewhere).is_empty());
}

/// Every entry on the way is held to the rule, not only the last: another user's link in the
/// middle of `tmp_file_root` or at its end with a trailing `/`, or their folder on the way, in a
/// shared sticky folder (as under `/var/tmp`). A `tmp_file_root` the user chose is refused there
/// (only the default's place is gone around), and nothing is written where the link points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_entry_anywhere_on_the_way_to_a_chosen_tmp_file_root_is_refused() {
    if !root_or_skip() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let elsewhere = d.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("x")).unwrap();
    let shared = d.path().join("var_tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let evil = shared.join("evil");
    std::os::unix::fs::symlink(&elsewhere, &evil).unwrap();
    std::os::unix::fs::lchown(&evil, Some(NOBODY), Some(NOBODY)).unwrap();
    let theirs = shared.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    for (dir, why) in [
        (
            PathBuf::from(format!("{}/", evil.display())),
            "symbolic link of another user",
        ),
        (evil.join("x"), "symbolic link of another user"),
        (evil.join("new"), "symbolic link of another user"),
        (theirs.join("x"), "belongs to another user"),
    ] {
        let r = promote(&promotion(&dir, &d.path().join("store"))).await;
        assert!(!r.ok);
        let all = r.errors.join("\n");
        assert_eq!(r.errors.len(), 1, "one cause, one message: {all}");
        assert!(
            all.contains(&format!("tmp_file_root {}", dir.display()))
                && all.contains(why)
                && all.contains("set tmp_file_root to a folder of this user's"),
            "{}: {all}",
            dir.display()
        );
        assert!(r.files.is_empty(), "{:?}", r.files);
    }
    assert_eq!(names(&elsewhere), ["x"]);
    assert!(names(&elsewhere.join("x")).is_empty());
    assert!(names(&theirs).is_empty());
    assert_eq!(names(&shared), ["evil", "theirs"], "nothing made beside them");
}

/// A shared sticky folder (what `/var/tmp` is, or a folder opened to several accounts): this user's
/// files go to a private sub-folder of it, reports 0600 (0640 when asked), list files 0644 as the
/// role's were; nothing lands in the shared folder itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_tmp_file_root_gets_a_private_sub_folder_and_reports_are_private() {
    let d = tempfile::tempdir().unwrap();
    let shared = d.path().join("promoter_logs");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let mine = shared.join(format!("copy-containers-{}", rustix_euid()));
    let p = promotion(&shared, &d.path().join("store"));
    let r = promote(&p).await;
    assert!(!r.ok, "nobody listens at the registries");
    assert_eq!(names(&shared), [mine.file_name().unwrap().to_string_lossy()]);
    assert_eq!(mode(&mine), 0o700);
    let reports: Vec<PathBuf> = r.files.iter().map(PathBuf::from).collect();
    assert_eq!(reports.len(), 4, "{reports:?}");
    for f in &reports {
        assert_eq!(f.parent(), Some(mine.as_path()), "{}", f.display());
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let parsed = mine.join("parsed_containers-centos-9-master.txt");
    assert!(parsed.is_file(), "{:?}", names(&mine));
    assert_eq!(mode(&parsed), 0o644);
    // Readable by the group when a setting says so.
    let mut a = promote_args(nowhere(), vec![nowhere()], &["nova-compute"], d.path());
    a.tmp_file_root = Some(d.path().join("group"));
    a.retries = Some(1);
    a.keep_local = Some("never".into());
    a.report_group_readable = Some(true);
    let p = a
        .resolve(copy_containers::promote::model::read_list_file)
        .unwrap();
    let r = promote(&p).await;
    assert_eq!(r.files.len(), 4);
    for f in &r.files {
        assert_eq!(mode(Path::new(f)), 0o640, "{f}");
    }
    // The sub-folder made first by someone else (here: opened to others) is refused.
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = promote(&promotion(&shared, &d.path().join("store"))).await;
    assert!(
        r.errors.iter().any(|e| e.contains("only it can open")),
        "{:#?}",
        r.errors
    );
}

/// Reports are pruned after each run to the newest `report_keep` runs of the action and release
/// (10 by default, without any setting); `latest`, other releases' reports, files of other names
/// and links are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_pruned_to_the_newest_runs_per_action_and_release() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    let p = promotion(&logs, &d.path().join("store"));
    assert_eq!(p.report_keep, 10, "the default, with no setting");
    let mut a = promote_args(nowhere(), vec![nowhere()], &["nova-compute"], d.path());
    a.tmp_file_root = Some(logs.clone());
    a.retries = Some(1);
    a.keep_local = Some("never".into());
    a.report_keep = Some(3);
    let three = a
        .resolve(copy_containers::promote::model::read_list_file)
        .unwrap();
    let mut other = a.clone();
    other.release = Some("wallaby".into());
    let other = other
        .resolve(copy_containers::promote::model::read_list_file)
        .unwrap();
    promote(&other).await;
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("copy-containers-promote-master-notes.json"), b"mine").unwrap();
    let victim = d.path().join("victim.json");
    std::fs::write(&victim, b"keep").unwrap();
    let old_link = logs.join(format!(
        "copy-containers-promote-master-{FH}-20000101T000000Z.json"
    ));
    std::os::unix::fs::symlink(&victim, &old_link).unwrap();
    let mut runs = Vec::new();
    for _ in 0..6 {
        let r = promote(&three).await;
        runs.push(r.files[0].clone());
    }
    let left = names(&logs);
    let master: Vec<&String> = left
        .iter()
        .filter(|n| n.starts_with(&format!("copy-containers-promote-master-{FH}-")))
        .collect();
    // Three runs' pairs, plus the link left alone.
    assert_eq!(master.len(), 7, "{left:#?}");
    for newest in &runs[3..] {
        let stem = newest.strip_suffix(".json").unwrap();
        for ext in ["json", "html"] {
            assert!(
                Path::new(&format!("{stem}.{ext}")).is_file(),
                "{stem}.{ext}: {left:#?}"
            );
        }
    }
    for oldest in &runs[..3] {
        assert!(!Path::new(oldest).exists(), "{oldest}");
    }
    for kept in [
        "copy-containers-promote-latest.json",
        "copy-containers-promote-latest.html",
        "copy-containers-promote-master-notes.json",
    ] {
        assert!(left.iter().any(|n| n == kept), "{kept}: {left:#?}");
    }
    let wallaby = left.iter().filter(|n| n.contains("-wallaby-")).count();
    assert_eq!(wallaby, 2, "another release's pair is its own: {left:#?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(std::fs::symlink_metadata(&old_link).is_ok());
}
