//! The storage of the compiled model's arrays (docs/design.md, "One model per
//! database"): a vector this backend owns, or a slice of a model image that several
//! backends map (`src/model/image.rs`). Reading is the same either way (a slice);
//! the first write to a mapped slab copies it into memory of its own, so a patch
//! never touches an image other backends read.

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

    /// The values, made this backend's own (copied once from a mapped image, with
    /// room for a sixteenth more, as patches grow their arrays).
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Repr::Mapped { .. } = self.repr {
            let mut own = vec_for_copy(self.len() + self.len() / 16 + 16);
            own.extend_from_slice(self);
            self.repr = Repr::Owned(own);
        }
        match &mut self.repr {
            Repr::Owned(v) => v,
            Repr::Mapped { .. } => unreachable!("made owned above"),
        }
    }

    /// Is this slab a slice of a shared image?
    pub fn is_mapped(&self) -> bool {
        matches!(self.repr, Repr::Mapped { .. })
    }

    /// Bytes of this backend's own memory held (none for a mapped slab).
    pub fn owned_bytes(&self) -> usize {
        match &self.repr {
            Repr::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Repr::Mapped { .. } => 0,
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

/// A mapped slab clones as another view of the same image; an owned one copies.
impl<T: Copy + 'static> Clone for Slab<T> {
    fn clone(&self) -> Slab<T> {
        match &self.repr {
            Repr::Owned(v) => v.clone().into(),
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
    fn an_empty_mapped_slab_is_an_empty_slice() {
        let keep: Keep = Rc::new(());
        let s: Slab<i64> = unsafe { Slab::mapped(std::ptr::null(), 0, keep) };
        assert!(s.is_empty());
    }
}
