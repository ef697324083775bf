//! The manifest parser on arbitrary bytes, with and without each media type a registry may
//! announce: wrapping (media type sniffing, schema 1 refusal), content parsing (configs, layers,
//! children and their digests) and config platforms. Nothing here may panic.
#![no_main]

use bytes::Bytes;
use copy_containers::manifest::{config_platform, media, Manifest};
use libfuzzer_sys::fuzz_target;

const TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some(media::DOCKER_V2S2),
    Some(media::DOCKER_LIST),
    Some(media::OCI_MANIFEST),
    Some(media::OCI_INDEX),
    Some(media::DOCKER_V2S1_SIGNED),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type header, the rest is the body.
    let (ct, body) = match data.split_first() {
        Some((b, rest)) => (TYPES[*b as usize % TYPES.len()], rest),
        None => (None, data),
    };
    if let Ok(m) = Manifest::from_bytes("fuzz", "manifest", Bytes::copy_from_slice(body), ct) {
        let _ = m.descriptor();
        if let Ok(c) = m.content() {
            let _ = format!("{c:?}");
        }
    }
    let _ = config_platform(body);
});
