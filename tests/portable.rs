//! The promoter hosts run CentOS Stream 9 (glibc 2.34): the binary must not need a newer glibc.
//! Reads the ELF `.gnu.version_r` (version needs) of the built binary directly, so the check needs
//! no binutils.

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

#[test]
fn binary_needs_at_most_glibc_2_34() {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_copy-containers")).unwrap();
    let versions = needed_versions(&bin);
    let glibc: Vec<(u32, u32)> = versions.iter().filter_map(|v| glibc_version(v)).collect();
    assert!(!glibc.is_empty(), "no GLIBC versions found: {versions:?}");
    let max = glibc.iter().max().unwrap();
    assert!(
        *max <= (2, 34),
        "needs GLIBC_{}.{} (> 2.34, CentOS Stream 9): {versions:?}",
        max.0,
        max.1
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
