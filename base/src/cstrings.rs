//! argv and envp for `execve`, built before a fork so that the forked
//! child only reads them (and writes one number into a slot made for it).

use alloc::boxed::Box;
use alloc::ffi::CString;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::ptr;

/// A NUL-terminated array of C strings (argv or envp), built before a fork
/// so the child only reads it.
pub struct CStringArray {
    _strings: Vec<CString>,
    /// The entry made by [`CStringArray::with_number`], and where its
    /// value starts.
    number: Option<(Box<UnsafeCell<[u8; NUMBER_ENTRY]>>, usize)>,
    ptrs: Vec<*const c_char>,
}

/// Room for `NAME=`, a decimal `i32` and the NUL.
const NUMBER_ENTRY: usize = 64;

impl CStringArray {
    /// Strings with an interior NUL are refused (`Err` shows the first,
    /// lossily decoded).
    pub fn new<I, S>(items: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<Vec<u8>>,
    {
        let mut strings = Vec::new();
        for s in items {
            let s: Vec<u8> = s.into();
            let c = CString::new(s)
                .map_err(|e| String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\0"))?;
            strings.push(c);
        }
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(ptr::null());
        Ok(CStringArray {
            _strings: strings,
            number: None,
            ptrs,
        })
    }

    /// `items`, then `NAME=0`, whose value a forked child sets with
    /// [`CStringArray::set_number`] right before it execs: a number it
    /// learns only then, its own pid (`LISTEN_PID`). NAME is a short
    /// variable name (`Err` shows a refused one).
    pub fn with_number<I, S>(items: I, name: &str) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<Vec<u8>>,
    {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() + 13 > NUMBER_ENTRY || bytes.contains(&b'=') {
            return Err(name.to_string());
        }
        let mut array = Self::new(items)?;
        let mut entry = [0u8; NUMBER_ENTRY];
        entry[..bytes.len()].copy_from_slice(bytes);
        entry[bytes.len()] = b'=';
        entry[bytes.len() + 1] = b'0';
        let cell = Box::new(UnsafeCell::new(entry));
        array.ptrs.pop();
        array.ptrs.push(cell.get() as *const c_char);
        array.ptrs.push(ptr::null());
        array.number = Some((cell, bytes.len() + 1));
        Ok(array)
    }

    /// Make `n`, in decimal, the value of the [`CStringArray::with_number`]
    /// entry (nothing without one). No allocation, no lock: for a forked
    /// child, right before `execve`.
    pub fn set_number(&self, n: i32) {
        let Some((cell, at)) = &self.number else {
            return;
        };
        let mut digits = [0u8; 12];
        let mut len = 0;
        if n < 0 {
            digits[0] = b'-';
            len = 1;
        }
        let mut v = i64::from(n).unsigned_abs();
        let first = len;
        loop {
            digits[len] = b'0' + (v % 10) as u8;
            len += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        digits[first..len].reverse();
        let p = cell.get().cast::<u8>();
        // SAFETY: the entry's bytes are reached only through this cell's
        // pointer (here, and by execve through `ptrs`), never through a
        // reference; the array is not Sync, so nothing else writes them
        // meanwhile; `at + len + 1` fits, as with_number left room for
        // 12 digits and the NUL.
        unsafe {
            for (i, b) in digits[..len].iter().enumerate() {
                p.add(at + i).write(*b);
            }
            p.add(at + len).write(0);
        }
    }

    /// Whether it has a [`CStringArray::with_number`] entry.
    pub fn has_number(&self) -> bool {
        self.number.is_some()
    }

    /// The pointer array, terminated by NULL, valid while `self` lives.
    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }

    /// The strings as they stand now (a number entry included), copied.
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.ptrs
            .iter()
            .take_while(|p| !p.is_null())
            // SAFETY: every non-null pointer is to a NUL-terminated string
            // this array owns.
            .map(|&p| unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes().to_vec())
            .collect()
    }
}
