//! The Ansible module's argument handling on arbitrary input: the bytes as JSON, then (for
//! objects) Ansible-style validation, then the promotion model. Nothing here may panic; the
//! network is never touched (`run_bytes` would build a runtime and connect, so it is not called).
#![no_main]

use copy_containers::module::args;
use copy_containers::promote::PromoteArgs;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // The model straight from the raw object (what a config file or a lenient caller gives).
    if let Ok(pa) = serde_json::from_value::<PromoteArgs>(Value::Object(raw.clone())) {
        let _ = pa.resolve(|_| Err(copy_containers::Error::Config("no files while fuzzing".into())));
    }
    // The module's path: validate, drop the module-only keys, deserialize, resolve.
    if let Ok(params) = args::validate(raw) {
        let mut values = params.values;
        values.remove("action");
        values.remove("registries");
        // Paths the fuzzer invents must not be read.
        values.remove("containers_list_file");
        if let Ok(pa) = serde_json::from_value::<PromoteArgs>(Value::Object(values)) {
            let _ = pa.resolve(|_| Err(copy_containers::Error::Config("no files while fuzzing".into())));
        }
    }
});
