//! The promoter hosts run CentOS Stream 8 and 9 (glibc 2.28, 2.34): the binary must not need a newer
//! glibc. The wheel's binary (`scripts/build-wheel`, zig's glibc 2.17 sysroot: manylinux2014) is what they install
//! and must run on both; a plain `cargo build` on Debian 12 still runs on Stream 9. Reads the ELF
//! `.gnu.version_r` (version needs) directly, so the check needs no binutils.

fn u16le(b: &[u8], o: usize) -> usize {
    u16::from_le_bytes([b[o], b[o + 1]]) as usize
}
fn u32le(b: &[u8], o: usize) -> usize {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize
}
fn u64le(b: &[u8], o: usize) -> usize {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize
}

/// Every version name the binary needs from its shared libraries (ELF64 little-endian).
fn needed_versions(elf: &[u8]) -> Vec<String> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not ELF64");
    let shoff = u64le(elf, 0x28);
    let shentsize = u16le(elf, 0x3a);
    let shnum = u16le(elf, 0x3c);
    let section = |i: usize| {
        let o = shoff + i * shentsize;
        // (type, offset, size, link)
        (
            u32le(elf, o + 4),
            u64le(elf, o + 0x18),
            u64le(elf, o + 0x20),
            u32le(elf, o + 0x28),
        )
    };
    let mut out = Vec::new();
    for i in 0..shnum {
        let (ty, off, _size, link) = section(i);
        if ty != 0x6fff_fffe {
            continue; // SHT_GNU_verneed
        }
        let (_, stroff, _, _) = section(link);
        let cstr = |o: usize| {
            let s = &elf[stroff + o..];
            String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap()]).into_owned()
        };
        let mut vn = off;
        loop {
            let cnt = u16le(elf, vn + 2);
            let aux = u32le(elf, vn + 8);
            let next = u32le(elf, vn + 12);
            let mut va = vn + aux;
            for _ in 0..cnt {
                out.push(cstr(u32le(elf, va + 8)));
                let vnext = u32le(elf, va + 12);
                if vnext == 0 {
                    break;
                }
                va += vnext;
            }
            if next == 0 {
                break;
            }
            vn += next;
        }
    }
    out
}

fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let v = name.strip_prefix("GLIBC_")?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().unwrap_or(0)))
}

/// The newest glibc version `elf` needs.
fn max_glibc(elf: &[u8]) -> (u32, u32) {
    let versions = needed_versions(elf);
    let glibc: Vec<(u32, u32)> = versions.iter().filter_map(|v| glibc_version(v)).collect();
    assert!(!glibc.is_empty(), "no GLIBC versions found: {versions:?}");
    *glibc.iter().max().unwrap()
}

#[test]
fn binary_needs_at_most_glibc_2_34() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_copy-containers")).unwrap();
    let max = max_glibc(&bin);
    assert!(
        max <= (2, 34),
        "needs GLIBC_{}.{} (> 2.34, CentOS Stream 9)",
        max.0,
        max.1
    );
}

/// The binary inside the wheel, as `scripts/build-wheel` extracted it. `scripts/test` builds the wheel
/// first and sets `CC_REQUIRE_WHEEL_BINARY=1`, so there a missing wheel fails the test; a plain `cargo
/// test` without a wheel only says it was not checked.
#[test]
fn wheel_binary_needs_at_most_glibc_2_17() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wheel-check/copy-containers");
    let required = std::env::var("CC_REQUIRE_WHEEL_BINARY").is_ok_and(|v| v == "1");
    let bin = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if !required => {
            eprintln!(
                "not checked: no wheel binary at {} ({e}); run scripts/build-wheel",
                path.display()
            );
            return;
        }
        Err(e) => panic!("{}: {e} (scripts/build-wheel makes it)", path.display()),
    };
    let max = max_glibc(&bin);
    assert!(
        max <= (2, 17),
        "the wheel's binary needs GLIBC_{}.{} (> 2.17, its manylinux2014 tag)",
        max.0,
        max.1
    );
    // It is the same program: it runs here and answers as copy-containers.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("copy-containers"),
        "{out:?}"
    );
}

#[test]
fn the_elf_reader_finds_known_versions() {
    // libc itself always needs versioned symbols from ld.so; a sanity check of the parser on this
    // machine's /bin/ls (any dynamically linked system binary).
    let ls = std::fs::read("/bin/ls").unwrap();
    let v = needed_versions(&ls);
    assert!(v.iter().any(|x| x.starts_with("GLIBC_2.")), "{v:?}");
    assert_eq!(glibc_version("GLIBC_2.34"), Some((2, 34)));
    assert_eq!(glibc_version("GLIBC_2.2.5"), Some((2, 2)));
    assert_eq!(glibc_version("GCC_3.0"), None);
}
