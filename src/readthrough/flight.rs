//! One fill per key (invariant 4): the first request for a missing key leads a fill, and every
//! request for the same key that arrives before it finishes follows it, receiving the same
//! result. The leader's work runs in a task of its own (the caller spawns it), so a client that
//! disconnects cancels only its own wait.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub struct Flights<K, V> {
    in_flight: Mutex<HashMap<K, watch::Receiver<Option<V>>>>,
}

/// Held by the one request that runs the fill; [`Lead::finish`] hands the result to everyone.
pub struct Lead<K: Eq + Hash + Clone, V> {
    key: K,
    sender: watch::Sender<Option<V>>,
    flights: Arc<Flights<K, V>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Flights<K, V> {
    pub fn new() -> Arc<Flights<K, V>> {
        Arc::new(Flights {
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Joins the fill of `key` in flight, or starts one: the receiver yields the result, and
    /// the `Lead` is `Some` for the caller that must run the fill.
    pub fn join(self: &Arc<Self>, key: &K) -> (watch::Receiver<Option<V>>, Option<Lead<K, V>>) {
        let mut in_flight = self.in_flight.lock().expect("no panics while locked");
        if let Some(receiver) = in_flight.get(key) {
            return (receiver.clone(), None);
        }
        let (sender, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver.clone());
        let lead = Lead {
            key: key.clone(),
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
        self.flights
            .in_flight
            .lock()
            .expect("no panics while locked")
            .remove(&self.key);
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
        let (first, lead) = flights.join(&1);
        let lead = lead.expect("the first request leads");
        let (second, none) = flights.join(&1);
        assert!(none.is_none(), "the second follows");
        let (_, other) = flights.join(&2);
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
        let (receiver, lead) = flights.join(&1);
        drop(lead);
        assert_eq!(outcome(receiver).await, None);
        assert!(flights.join(&1).1.is_some(), "the next request leads anew");
    }
}
