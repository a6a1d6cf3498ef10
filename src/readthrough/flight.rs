//! One fill per key (invariant 4): the first request for a missing key leads a fill, and every
//! request for the same key that arrives before it finishes follows it, receiving the same
//! result. The leader's work runs in a task of its own (the caller spawns it), so a client that
//! disconnects cancels only its own wait.
//!
//! A flight is joined only by requests arriving under the same invalidation sequence number it
//! started under (its `epoch`): once a change event has been applied, a new request must not
//! receive an answer whose SQL may have run before that write, so it starts a fill of its own.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub struct Flights<K, V> {
    in_flight: Mutex<HashMap<K, Flight<V>>>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Flight<V> {
    receiver: watch::Receiver<Option<V>>,
    epoch: u64,
    /// Tells this flight from a later one of the same key that replaced it.
    id: u64,
}

/// Held by the one request that runs the fill; [`Lead::finish`] hands the result to everyone.
pub struct Lead<K: Eq + Hash + Clone, V> {
    key: K,
    id: u64,
    sender: watch::Sender<Option<V>>,
    flights: Arc<Flights<K, V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Flights<K, V> {
    pub fn new() -> Arc<Flights<K, V>> {
        Arc::new(Flights {
            in_flight: Mutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Joins the fill of `key` in flight under `epoch`, or starts one: the receiver yields the
    /// result, and the `Lead` is `Some` for the caller that must run the fill.
    pub fn join(
        self: &Arc<Self>,
        key: &K,
        epoch: u64,
    ) -> (watch::Receiver<Option<V>>, Option<Lead<K, V>>) {
        let mut in_flight = self.in_flight.lock().expect("no panics while locked");
        if let Some(flight) = in_flight.get(key) {
            if flight.epoch == epoch {
                return (flight.receiver.clone(), None);
            }
        }
        let (sender, receiver) = watch::channel(None);
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        in_flight.insert(
            key.clone(),
            Flight {
                receiver: receiver.clone(),
                epoch,
                id,
            },
        );
        let lead = Lead {
            key: key.clone(),
            id,
            sender,
            flights: self.clone(),
        };
        (receiver, Some(lead))
    }

    /// Fills in flight now (tests and metrics).
    pub fn len(&self) -> usize {
        self.in_flight.lock().expect("no panics while locked").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Eq + Hash + Clone, V> Lead<K, V> {
    pub fn finish(self, value: V) {
        // Sent before the key leaves the map: a request arriving in between joins a finished
        // flight and gets this value at once, instead of starting a second fill.
        self.sender.send_replace(Some(value));
    }
}

impl<K: Eq + Hash + Clone, V> Drop for Lead<K, V> {
    fn drop(&mut self) {
        // Also on a panicking fill: followers then see the channel close instead of waiting.
        // Only this flight's own entry: a later one may have replaced it.
        let mut in_flight = self
            .flights
            .in_flight
            .lock()
            .expect("no panics while locked");
        if in_flight.get(&self.key).is_some_and(|f| f.id == self.id) {
            in_flight.remove(&self.key);
        }
    }
}

/// Waits for the flight's result; `None` if the leader went away without one.
pub async fn outcome<V: Clone>(mut receiver: watch::Receiver<Option<V>>) -> Option<V> {
    match receiver.wait_for(Option::is_some).await {
        Ok(value) => value.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_share_the_leaders_result_and_the_key_is_freed() {
        let flights: Arc<Flights<u8, u32>> = Flights::new();
        let (first, lead) = flights.join(&1, 0);
        let lead = lead.expect("the first request leads");
        let (second, none) = flights.join(&1, 0);
        assert!(none.is_none(), "the second follows");
        let (_, other) = flights.join(&2, 0);
        assert!(other.is_some(), "another key has its own flight");
        lead.finish(7);
        assert_eq!(outcome(first).await, Some(7));
        assert_eq!(outcome(second).await, Some(7));
        drop(other);
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_leader_that_vanishes_releases_its_followers() {
        let flights: Arc<Flights<u8, u32>> = Flights::new();
        let (receiver, lead) = flights.join(&1, 0);
        drop(lead);
        assert_eq!(outcome(receiver).await, None);
        assert!(
            flights.join(&1, 0).1.is_some(),
            "the next request leads anew"
        );
    }

    #[tokio::test]
    async fn a_request_after_an_invalidation_does_not_join_an_older_flight() {
        let flights: Arc<Flights<u8, u32>> = Flights::new();
        let (old, old_lead) = flights.join(&1, 0);
        let (new, new_lead) = flights.join(&1, 1);
        let (old_lead, new_lead) = (old_lead.unwrap(), new_lead.expect("leads its own fill"));
        old_lead.finish(1);
        assert_eq!(outcome(old).await, Some(1));
        let (_, follower) = flights.join(&1, 1);
        assert!(follower.is_none(), "the newer flight is still in the map");
        new_lead.finish(2);
        assert_eq!(outcome(new).await, Some(2));
        assert!(flights.is_empty());
    }
}
