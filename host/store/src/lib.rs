//! Storage that lives on the host: the embedded S3 emulation and artifact archives.

pub mod archive;
pub mod s3;
#[doc(hidden)]
pub mod testing;
pub mod tree;

pub use s3::{LocalS3, ObjectInfo, PutOptions, S3Error};
