//! The storage of the compiled model's arrays (docs/design.md, "One model per
//! database"): a vector this backend owns, or a slice of a model image that several
//! backends map (`src/model/image.rs`). Reading is the same either way (a slice);
//! the first write to a mapped slab copies it into memory of its own, so a patch
//! never touches an image other backends read. A third kind, a window, is a slice
//! of an image no other backend reads (a spare segment this backend claimed) with
//! room to grow: a patch writes it where it lies, and copies it out only when it
//! outgrows its room (docs/design.md, "Patching a spare in place").

use std::any::Any;
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

/// Keeps the memory a mapped slab points into alive (the image's mapping).
pub type Keep = Rc<dyn Any>;

/// An array of plain values: owned, or borrowed from a mapped image.
pub struct Slab<T: Copy + 'static> {
    repr: Repr<T>,
}

enum Repr<T> {
    Owned(Vec<T>),
    Mapped {
        ptr: *const T,
        len: usize,
        _keep: Keep,
    },
    /// `len` values at `ptr` with room for `cap`, written in place.
    Window {
        ptr: *mut T,
        len: usize,
        cap: usize,
        _keep: Keep,
    },
}

impl<T: Copy + 'static> Slab<T> {
    /// `len` values at `ptr`, valid while `keep` lives.
    ///
    /// # Safety
    /// `ptr` must be aligned for `T` and point to `len` initialized, valid values of
    /// `T` that nothing changes while `keep` is alive.
    pub unsafe fn mapped(ptr: *const T, len: usize, keep: Keep) -> Slab<T> {
        Slab {
            repr: Repr::Mapped {
                ptr: if len == 0 {
                    std::ptr::NonNull::dangling().as_ptr()
                } else {
                    ptr
                },
                len,
                _keep: keep,
            },
        }
    }

    /// `len` values at `ptr`, with room for `cap`, written where they lie.
    ///
    /// # Safety
    /// `ptr` must be aligned for `T`, point to `len` initialized, valid values of
    /// `T` followed by room for `cap - len` more, all of it memory nothing else
    /// reads or writes while `keep` is alive.
    pub unsafe fn window(ptr: *mut T, len: usize, cap: usize, keep: Keep) -> Slab<T> {
        assert!(len <= cap, "a window holds no more than its room");
        Slab {
            repr: Repr::Window {
                ptr: if cap == 0 {
                    std::ptr::NonNull::dangling().as_ptr()
                } else {
                    ptr
                },
                len,
                cap,
                _keep: keep,
            },
        }
    }

    /// The values, made this backend's own (copied once from a mapped image or a
    /// window, with room for a sixteenth more, as patches grow their arrays): for
    /// the rare changes no other method covers.
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if !matches!(self.repr, Repr::Owned(_)) {
            self.copy_out(0);
        }
        match &mut self.repr {
            Repr::Owned(v) => v,
            _ => unreachable!("made owned above"),
        }
    }

    /// Copied into a vector of its own with room for `more` values besides a
    /// sixteenth more.
    fn copy_out(&mut self, more: usize) {
        let mut own = vec_for_copy(self.len() + more + self.len() / 16 + 16);
        own.extend_from_slice(self);
        self.repr = Repr::Owned(own);
    }

    /// Room for `more` values: a mapped slab, or a window without the room, is
    /// copied out; a vector grows by a sixteenth (not doubling, as `push` would: a
    /// patched model stays within a few percent of a compiled one's memory).
    fn room(&mut self, more: usize) {
        let need = self.len() + more;
        match &mut self.repr {
            Repr::Owned(v) => {
                if need > v.capacity() {
                    v.reserve_exact(more.max(v.len() / 16 + 16));
                }
            }
            Repr::Window { cap, .. } if need <= *cap => {}
            _ => self.copy_out(more),
        }
    }

    /// The values, to write (a mapped slab is copied out first; a window is
    /// written in place).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.room(0);
        match &mut self.repr {
            Repr::Owned(v) => v,
            // SAFETY: `Slab::window`'s contract: `len` valid values nobody else uses.
            Repr::Window { ptr, len, .. } => unsafe { std::slice::from_raw_parts_mut(*ptr, *len) },
            Repr::Mapped { .. } => unreachable!("copied out by room()"),
        }
    }

    /// Append `values`.
    pub fn extend_from_slice(&mut self, values: &[T]) {
        self.room(values.len());
        match &mut self.repr {
            Repr::Owned(v) => v.extend_from_slice(values),
            Repr::Window { ptr, len, .. } => {
                // SAFETY: room() left room for them; `values` cannot be in the window
                // (it is borrowed apart from `self`).
                unsafe {
                    std::ptr::copy_nonoverlapping(values.as_ptr(), ptr.add(*len), values.len())
                };
                *len += values.len();
            }
            Repr::Mapped { .. } => unreachable!("copied out by room()"),
        }
    }

    /// Append `value`.
    pub fn push(&mut self, value: T) {
        self.extend_from_slice(&[value]);
    }

    /// Insert `value` at `at`, moving the ones after it.
    pub fn insert(&mut self, at: usize, value: T) {
        assert!(at <= self.len(), "insert at {at} past the end");
        self.room(1);
        match &mut self.repr {
            Repr::Owned(v) => v.insert(at, value),
            Repr::Window { ptr, len, .. } => {
                // SAFETY: within the window's room (room() above, at <= len).
                unsafe {
                    std::ptr::copy(ptr.add(at), ptr.add(at + 1), *len - at);
                    ptr.add(at).write(value);
                }
                *len += 1;
            }
            Repr::Mapped { .. } => unreachable!("copied out by room()"),
        }
    }

    /// Remove the value at `at`, moving the ones after it.
    pub fn remove(&mut self, at: usize) -> T {
        let value = self[at];
        self.room(0);
        match &mut self.repr {
            Repr::Owned(v) => {
                v.remove(at);
            }
            Repr::Window { ptr, len, .. } => {
                // SAFETY: at < len (read above).
                unsafe { std::ptr::copy(ptr.add(at + 1), ptr.add(at), *len - at - 1) };
                *len -= 1;
            }
            Repr::Mapped { .. } => unreachable!("copied out by room()"),
        }
        value
    }

    /// Remove the value at `at`, the last one taking its place.
    pub fn swap_remove(&mut self, at: usize) -> T {
        let last = self.len() - 1;
        let value = self[at];
        let moved = self[last];
        self.as_mut_slice()[at] = moved;
        self.truncate(last);
        value
    }

    /// Keep the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        self.room(0);
        match &mut self.repr {
            Repr::Owned(v) => v.truncate(n),
            Repr::Window { len, .. } => *len = (*len).min(n),
            Repr::Mapped { .. } => unreachable!("copied out by room()"),
        }
    }

    /// Make it `n` values long, the new ones `value`.
    pub fn resize(&mut self, n: usize, value: T) {
        let len = self.len();
        if n <= len {
            self.truncate(n);
        } else {
            self.room(n - len);
            for _ in len..n {
                self.push(value);
            }
        }
    }

    /// Make it `values` (written into the window when they fit).
    pub fn replace(&mut self, values: Vec<T>) {
        match &self.repr {
            Repr::Window { cap, .. } if values.len() <= *cap => {
                self.truncate(0);
                self.extend_from_slice(&values);
            }
            _ => self.repr = Repr::Owned(values),
        }
    }

    /// Is this slab a slice of a shared image?
    pub fn is_mapped(&self) -> bool {
        matches!(self.repr, Repr::Mapped { .. })
    }

    /// Where the window lies (its first value), for a slab written in place.
    pub fn window_at(&self) -> Option<*const T> {
        match &self.repr {
            Repr::Window { ptr, .. } => Some(*ptr as *const T),
            _ => None,
        }
    }

    /// Bytes of this backend's own memory held (none for a mapped slab or a window).
    pub fn owned_bytes(&self) -> usize {
        match &self.repr {
            Repr::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Repr::Mapped { .. } | Repr::Window { .. } => 0,
        }
    }
}

/// An empty vector with room for `capacity` values, to copy a mapped array into.
/// A large one (a patch of a model read from an image copies the users, 8 MB at
/// 200,000 users) is advised into huge pages where the kernel offers them on
/// request: a few faults instead of one per 4 kB page, which is most of the copy's
/// cost (docs/benchmarks.md, "One model per database").
fn vec_for_copy<T>(capacity: usize) -> Vec<T> {
    const HUGE: usize = 2 << 20;
    let v: Vec<T> = Vec::with_capacity(capacity);
    let (at, bytes) = (v.as_ptr() as usize, capacity * std::mem::size_of::<T>());
    if bytes >= 2 * HUGE {
        let start = at.next_multiple_of(HUGE);
        let end = (at + bytes) / HUGE * HUGE;
        if end > start {
            // Advice only: refused or ignored, the copy is the same.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    v
}

impl<T: Copy + 'static> Deref for Slab<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        match &self.repr {
            Repr::Owned(v) => v,
            // SAFETY: `Slab::mapped`'s contract: valid while `_keep` lives, which it
            // does as long as `self`.
            Repr::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            // SAFETY: `Slab::window`'s contract, the same.
            Repr::Window { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }
}

impl<T: Copy + 'static> From<Vec<T>> for Slab<T> {
    fn from(v: Vec<T>) -> Slab<T> {
        Slab {
            repr: Repr::Owned(v),
        }
    }
}

impl<T: Copy + 'static> Default for Slab<T> {
    fn default() -> Slab<T> {
        Vec::new().into()
    }
}

/// A mapped slab clones as another view of the same image; an owned one, or a
/// window (written in place: two writers must not share it), copies.
impl<T: Copy + 'static> Clone for Slab<T> {
    fn clone(&self) -> Slab<T> {
        match &self.repr {
            Repr::Owned(_) | Repr::Window { .. } => self.to_vec().into(),
            Repr::Mapped { ptr, len, _keep } => Slab {
                repr: Repr::Mapped {
                    ptr: *ptr,
                    len: *len,
                    _keep: _keep.clone(),
                },
            },
        }
    }
}

impl<T: Copy + fmt::Debug + 'static> fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Copy + PartialEq + 'static> PartialEq for Slab<T> {
    fn eq(&self, other: &Slab<T>) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_slab_reads_the_image_and_copies_on_the_first_write() {
        let image: Rc<Vec<u32>> = Rc::new(vec![1, 2, 3]);
        let keep: Keep = image.clone();
        let mut s = unsafe { Slab::mapped(image.as_ptr(), image.len(), keep) };
        assert!(s.is_mapped());
        assert_eq!(&*s, &[1, 2, 3]);
        assert_eq!(s.owned_bytes(), 0);
        let view = s.clone();
        s.make_mut().push(4);
        assert!(!s.is_mapped());
        assert_eq!(&*s, &[1, 2, 3, 4]);
        // The image and the other view are untouched.
        assert_eq!(&*view, &[1, 2, 3]);
        assert_eq!(&**image, &[1, 2, 3]);
        drop((s, view));
        assert_eq!(
            Rc::strong_count(&image),
            1,
            "nothing keeps the image once dropped"
        );
    }

    #[test]
    fn a_window_is_written_in_place_until_it_outgrows_its_room() {
        let image = Rc::new(std::cell::UnsafeCell::new(vec![1u32, 2, 3, 0, 0, 9]));
        let at = unsafe { (*image.get()).as_mut_ptr() };
        let keep: Keep = image.clone();
        // Three values with room for five (the sixth word is not the window's).
        let mut s = unsafe { Slab::window(at, 3, 5, keep) };
        let written =
            |image: &Rc<std::cell::UnsafeCell<Vec<u32>>>| unsafe { (*image.get()).clone() };
        s.push(4);
        s.insert(0, 0);
        assert_eq!(&*s, &[0, 1, 2, 3, 4]);
        assert_eq!(written(&image), [0, 1, 2, 3, 4, 9]);
        assert_eq!(s.remove(1), 1);
        assert_eq!(s.swap_remove(0), 0);
        s.as_mut_slice()[0] = 7;
        assert_eq!(&*s, &[7, 2, 3]);
        assert_eq!(&written(&image)[..3], &[7, 2, 3]);
        assert_eq!(s.window_at(), Some(at as *const u32));
        s.replace(vec![5, 6]);
        assert_eq!(&*s, &[5, 6]);
        assert_eq!(s.owned_bytes(), 0);
        // A clone copies (two writers never share a window).
        let copy = s.clone();
        assert!(copy.window_at().is_none());
        // Past its room: copied out, the image (and the word after it) left as is.
        s.resize(6, 8);
        assert!(s.window_at().is_none());
        assert_eq!(&*s, &[5, 6, 8, 8, 8, 8]);
        assert_eq!(written(&image)[5], 9);
        assert_eq!(&written(&image)[..2], &[5, 6]);
        drop((s, copy));
        assert_eq!(Rc::strong_count(&image), 1);
    }

    #[test]
    fn an_empty_mapped_slab_is_an_empty_slice() {
        let keep: Keep = Rc::new(());
        let s: Slab<i64> = unsafe { Slab::mapped(std::ptr::null(), 0, keep) };
        assert!(s.is_empty());
    }
}
