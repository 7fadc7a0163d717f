//! The browser surface (wasm only): what www/app.js calls.

use wasm_bindgen::prelude::*;

use crate::Gpu;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Connects to WebGPU; resolves to the adapter's description or rejects with a message
/// that says what is missing.
#[wasm_bindgen]
pub async fn gpu_adapter() -> Result<String, JsValue> {
    let gpu = connect().await?;
    Ok(gpu.describe())
}

async fn connect() -> Result<Gpu, JsValue> {
    let has_webgpu =
        js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).and_then(|n| js_sys::Reflect::has(&n, &"gpu".into())).unwrap_or(false);
    if !has_webgpu {
        return Err(JsValue::from_str(
            "This browser has no WebGPU (navigator.gpu is missing). It ships in Chrome and Edge 113+, Safari 26+ and Firefox 141+ (Windows); elsewhere it may sit behind a flag.",
        ));
    }
    Gpu::new().await.map_err(|e| JsValue::from_str(&e.to_string()))
}

/// Runs every engine case (each GPU op against its CPU reference) and resolves to a
/// JSON array of {name, ok, max_rel_err, max_fd_err, shapes, error}.
#[wasm_bindgen]
pub async fn engine_selftest() -> Result<String, JsValue> {
    let gpu = connect().await?;
    let mut rows = Vec::new();
    for name in crate::selftest::CASES {
        let row = match crate::selftest::run_case(&gpu, name).await {
            Ok(r) => format!(
                r#"{{"name":"{name}","ok":true,"max_rel_err":{:e},"max_fd_err":{:e},"shapes":{}}}"#,
                r.max_rel_err,
                r.max_fd_err,
                r.shapes.len()
            ),
            Err(e) => format!(r#"{{"name":"{name}","ok":false,"error":{}}}"#, json_string(&e)),
        };
        rows.push(row);
    }
    Ok(format!("[{}]", rows.join(",")))
}

fn json_string(s: &str) -> String {
    let escaped: String = s
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            '\n' => vec!['\\', 'n'],
            c if (c as u32) < 0x20 => vec![' '],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}
