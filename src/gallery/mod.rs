//! The gallery route as values, without I/O: the query string parsed into a [`GalleryQuery`],
//! cursors, and the rows rendered back into upstream's exact bytes.

pub mod cursor;
pub mod error;
pub mod jsonb;
pub mod key;
pub mod params;
pub mod plan;
pub mod pyfloat;
pub mod query;
pub mod render;
pub mod search;
pub mod tag_id;
pub mod uuid_error;

pub use error::ApiError;
pub use query::GalleryQuery;
