//! Shared by the zip fuzz targets.

/// Runs a future that never waits (SliceSource answers at once) to completion with one poll.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("SliceSource is synchronous"),
    }
}
