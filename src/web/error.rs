//! Errors as the page receives them: a JavaScript `Error` whose `kind` says what went
//! wrong, so the page switches on the kind and never reads the message for it.

use wasm_bindgen::JsValue;

use crate::Error;

/// What kind of failure an error is (its `kind` property on the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No usable WebGPU.
    NoGpu,
    /// The GPU device was lost or a readback failed.
    DeviceLost,
    /// Shapes that do not fit (a bug, or a network and weights that differ).
    Shape,
    /// Beyond what this GPU allows.
    TooLarge,
    /// A model, checkpoint or data file that is malformed.
    BadFile,
    /// A file that cannot be written.
    CannotWrite,
    /// Training produced a non-finite loss.
    Diverged,
    /// A call made out of order: no model loaded, training not started, no data yet.
    State,
    /// A request the page built wrongly (an unknown field, an unknown name).
    Request,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::NoGpu => "no_gpu",
            Kind::DeviceLost => "device_lost",
            Kind::Shape => "shape",
            Kind::TooLarge => "too_large",
            Kind::BadFile => "bad_file",
            Kind::CannotWrite => "cannot_write",
            Kind::Diverged => "diverged",
            Kind::State => "state",
            Kind::Request => "request",
        }
    }
}

/// An `Error` with `message` and `kind`.
pub fn error(kind: Kind, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    // Setting a property on a fresh object cannot fail.
    let _ = js_sys::Reflect::set(&e, &"kind".into(), &kind.name().into());
    e.into()
}

/// The engine's error, with its kind.
pub fn js(e: Error) -> JsValue {
    let kind = match &e {
        Error::NoGpu(_) => Kind::NoGpu,
        Error::DeviceLost(_) => Kind::DeviceLost,
        Error::Shape(_) => Kind::Shape,
        Error::TooLarge(_) => Kind::TooLarge,
        Error::BadFile(_) => Kind::BadFile,
        Error::Diverged(_) => Kind::Diverged,
        Error::CannotWrite(_) => Kind::CannotWrite,
    };
    error(kind, &e.to_string())
}

/// A call made out of order ("no model loaded").
pub fn state(message: &str) -> JsValue {
    error(Kind::State, message)
}

/// A request the page built wrongly.
pub fn request(message: &str) -> JsValue {
    error(Kind::Request, message)
}

/// A result as a plain JavaScript value (objects, arrays, numbers; maps as objects).
pub fn typed<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| request(&e.to_string()))
}
