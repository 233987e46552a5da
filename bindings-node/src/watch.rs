//! Wakes the JS thread when an answer starts arriving, at the same moment as
//! the runtime thread that reads it, instead of after it.
//!
//! With one request in flight the answer reaches a runtime thread (woken by
//! the socket), which then wakes the JS thread through the env's thread-safe
//! function: two wake-ups one after the other, and an idle vCPU on this kind
//! of machine takes ~40 µs to wake (SPEC §9, P9). So each env also has a
//! `usher_core::socket_watch::SocketWatch` (an epoll set of the sockets of
//! sessions with a request in flight, armed one-shot per request), watched
//! by a libuv poll handle on the env's loop. When a socket turns readable,
//! libuv wakes the JS thread; its callback waits (yielding the CPU, at most
//! `loop_task::SPIN_LIMIT`) until the answer is
//! queued, by which time the thread-safe function has been called, so libuv
//! runs it without the thread going back to sleep. Nothing here reads the
//! socket: the runtime thread does, as before.
//!
//! libuv is reached through the symbols the Node executable exports (looked
//! up at run time, so `cargo test` links without them); where they or epoll
//! are missing, nothing is watched and promises settle as before. libuv
//! watches only the epoll set, which stays open while the poll handle or
//! the env holds it, so libuv never sees a session's socket (bounds and stale
//! descriptors: `usher_core::socket_watch`). The poll handle is
//! unreferenced (it never keeps Node alive) and closed by an env cleanup
//! hook.

use std::os::fd::RawFd;

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::{c_int, c_void};
    use std::os::fd::RawFd;
    use std::sync::{Arc, OnceLock};

    use napi::{Env, sys};
    use usher_core::socket_watch::SocketWatch;

    type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
    type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

    type HandleSizeFn = unsafe extern "C" fn(kind: c_int) -> usize;
    type PollInitFn = unsafe extern "C" fn(uv_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    type PollStartFn = unsafe extern "C" fn(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    type UnrefFn = unsafe extern "C" fn(handle: *mut c_void);
    type CloseFn = unsafe extern "C" fn(handle: *mut c_void, cb: Option<CloseCb>);

    /// The libuv functions used, from the Node executable.
    struct Uv {
        handle_size: HandleSizeFn,
        poll_init: PollInitFn,
        poll_start: PollStartFn,
        unref: UnrefFn,
        close: CloseFn,
    }

    /// `UV_POLL` in libuv's `uv_handle_type` (stable across libuv 1.x).
    const UV_POLL: c_int = 8;
    /// `UV_READABLE`.
    const UV_READABLE: c_int = 1;

    fn uv() -> Option<&'static Uv> {
        static UV: OnceLock<Option<Uv>> = OnceLock::new();
        UV.get_or_init(|| {
            fn sym(name: &std::ffi::CStr) -> Option<*mut c_void> {
                // SAFETY: a lookup in the already loaded images.
                let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
                (!p.is_null()).then_some(p)
            }
            // SAFETY: these are libuv's exported functions with exactly these
            // C signatures (uv.h, libuv 1.x).
            unsafe {
                Some(Uv {
                    handle_size: std::mem::transmute::<*mut c_void, HandleSizeFn>(sym(c"uv_handle_size")?),
                    poll_init: std::mem::transmute::<*mut c_void, PollInitFn>(sym(c"uv_poll_init")?),
                    poll_start: std::mem::transmute::<*mut c_void, PollStartFn>(sym(c"uv_poll_start")?),
                    unref: std::mem::transmute::<*mut c_void, UnrefFn>(sym(c"uv_unref")?),
                    close: std::mem::transmute::<*mut c_void, CloseFn>(sym(c"uv_close")?),
                })
            }
        })
        .as_ref()
    }

    /// What the poll handle's `data` points at; freed when the handle closes.
    /// The set stays open while the handle or the env's `Watch` holds it.
    struct Handle {
        set: Arc<SocketWatch>,
        on_socket: Box<dyn Fn()>,
    }

    #[derive(Debug)]
    pub struct Watch {
        set: Arc<SocketWatch>,
    }

    unsafe extern "C" fn on_ready(handle: *mut c_void, _status: c_int, _events: c_int) {
        // SAFETY: `data` (the handle's first field) was set to a live `Handle`
        // before the handle started, and is freed only in `on_close`.
        let h = unsafe { &**(handle as *mut *mut Handle) };
        if h.set.take_socket_events() {
            (h.on_socket)();
        }
    }

    unsafe extern "C" fn on_close(handle: *mut c_void) {
        // SAFETY: as in `on_ready`; libuv is done with the handle, so both the
        // `Handle` and the handle's memory (allocated in `Watch::new`) go.
        unsafe {
            drop(Box::from_raw(*(handle as *mut *mut Handle)));
            libc::free(handle);
        }
    }

    unsafe extern "C" fn cleanup(handle: *mut c_void) {
        if let Some(uv) = uv() {
            // SAFETY: an initialised, not yet closed poll handle.
            unsafe { (uv.close)(handle, Some(on_close)) };
        }
    }

    impl Watch {
        /// A watch on `env`'s loop calling `on_socket` (on the JS thread) when
        /// an armed socket turns readable; `None` without libuv or epoll.
        pub fn new(env: &Env, on_socket: Box<dyn Fn()>) -> Option<Self> {
            let uv = uv()?;
            let mut uv_loop = std::ptr::null_mut();
            // SAFETY: a napi call on the JS thread with an out-pointer.
            if unsafe { sys::napi_get_uv_event_loop(env.raw(), &mut uv_loop) } != sys::Status::napi_ok {
                return None;
            }
            let set = Arc::new(SocketWatch::new().ok()?);
            let fd = set.fd();
            // SAFETY: libuv's size for a poll handle; zeroed, freed in `on_close`.
            let handle = unsafe { libc::calloc(1, (uv.handle_size)(UV_POLL)) };
            if handle.is_null() {
                return None;
            }
            // SAFETY: `handle` is a zeroed uv_poll_t on the loop's thread; its
            // first field is `void* data`, set once init succeeded.
            unsafe {
                if (uv.poll_init)(uv_loop.cast(), handle, fd) != 0 {
                    libc::free(handle);
                    return None;
                }
                let data = Handle { set: Arc::clone(&set), on_socket };
                *(handle as *mut *mut Handle) = Box::into_raw(Box::new(data));
                (uv.unref)(handle);
                if (uv.poll_start)(handle, UV_READABLE, on_ready) != 0
                    || sys::napi_add_env_cleanup_hook(env.raw(), Some(cleanup), handle)
                        != sys::Status::napi_ok
                {
                    (uv.close)(handle, Some(on_close));
                    return None;
                }
            }
            Some(Self { set })
        }

        pub fn arm(&self, fd: RawFd) {
            self.set.arm(fd);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::os::fd::RawFd;

    #[derive(Debug)]
    pub struct Watch;

    impl Watch {
        pub fn new(_env: &napi::Env, _on_socket: Box<dyn Fn()>) -> Option<Self> {
            None
        }

        pub fn arm(&self, _fd: RawFd) {}
    }
}

/// An env's watched sockets (module docs).
#[derive(Debug)]
pub struct Watch(imp::Watch);

impl Watch {
    /// A watch calling `on_socket` on the JS thread when an armed socket turns
    /// readable; `None` where libuv or epoll cannot be had.
    pub fn new(env: &napi::Env, on_socket: Box<dyn Fn()>) -> Option<Self> {
        imp::Watch::new(env, on_socket).map(Self)
    }

    /// Wakes the JS thread once when `fd` (a session's socket) turns readable.
    pub fn arm(&self, fd: RawFd) {
        self.0.arm(fd);
    }
}
