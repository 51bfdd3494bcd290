//! [`EventType`]: a typed event type, the name handlers are routed by and how to reach its
//! payload.

use std::fmt;

/// A typed event type of an event enum `E` whose payload is `P`: the name handlers are routed by
/// and how to reach the payload. Handlers registered with it get `P` directly, no `match`.
///
/// Providers ship constants (e.g. [`chirp::SMS_DELIVERED`](crate::chirp::SMS_DELIVERED)); for
/// your own enum, one line per variant:
///
/// ```
/// use webhook_receiver::{Event, EventType};
///
/// #[derive(Clone, Debug)]
/// struct User { id: String }
/// #[derive(Clone, Debug)]
/// enum MyEvent { UserCreated(User), Other }
/// impl Event for MyEvent {
///     fn event_name(&self) -> &str {
///         match self { Self::UserCreated(_) => "user.created", Self::Other => "other" }
///     }
/// }
///
/// const USER_CREATED: EventType<MyEvent, User> = EventType::new("user.created", |e| match e {
///     MyEvent::UserCreated(u) => Some(u),
///     _ => None,
/// });
///
/// let e = MyEvent::UserCreated(User { id: "u1".into() });
/// assert_eq!(USER_CREATED.payload(&e).unwrap().id, "u1");
/// assert_eq!(USER_CREATED.name(), "user.created");
/// ```
///
/// Handlers take their payload by value. The dispatcher clones it for every handler of an event
/// but the last one, which gets the event's own payload if the type says how to take it out
/// ([`taking`](Self::taking)); without that, the last handler gets a clone too.
pub struct EventType<E, P> {
    name: &'static str,
    extract: fn(&E) -> Option<&P>,
    take: Option<fn(E) -> Option<P>>,
}

impl<E, P> EventType<E, P> {
    /// Declares an event type by its wire name and its payload accessor.
    pub const fn new(name: &'static str, extract: fn(&E) -> Option<&P>) -> Self {
        Self {
            name,
            extract,
            take: None,
        }
    }

    /// Says how to move the payload out of an event, so that the last handler of an event gets
    /// it without a clone (worth it for large payloads).
    ///
    /// ```
    /// use webhook_receiver::{Event, EventType};
    ///
    /// #[derive(Clone, Debug)]
    /// struct User { id: String }
    /// #[derive(Clone, Debug)]
    /// enum MyEvent { UserCreated(User), Other }
    /// impl Event for MyEvent {
    ///     fn event_name(&self) -> &str {
    ///         match self { Self::UserCreated(_) => "user.created", Self::Other => "other" }
    ///     }
    /// }
    ///
    /// const USER_CREATED: EventType<MyEvent, User> = EventType::new("user.created", |e| match e {
    ///     MyEvent::UserCreated(u) => Some(u),
    ///     _ => None,
    /// })
    /// .taking(|e| match e {
    ///     MyEvent::UserCreated(u) => Some(u),
    ///     _ => None,
    /// });
    ///
    /// let e = MyEvent::UserCreated(User { id: "u1".into() });
    /// assert_eq!(USER_CREATED.take(e).unwrap().id, "u1");
    /// ```
    #[must_use]
    pub const fn taking(self, take: fn(E) -> Option<P>) -> Self {
        Self {
            take: Some(take),
            ..self
        }
    }

    /// The wire name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The payload, if `event` is of this type.
    pub fn payload<'a>(&self, event: &'a E) -> Option<&'a P> {
        (self.extract)(event)
    }

    /// The payload by value, if `event` is of this type: moved out when the type was declared
    /// [`taking`](Self::taking) it, cloned otherwise.
    pub fn take(&self, event: E) -> Option<P>
    where
        P: Clone,
    {
        match self.take {
            Some(take) => take(event),
            None => self.payload(&event).cloned(),
        }
    }
}

impl<E, P> Clone for EventType<E, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, P> Copy for EventType<E, P> {}

impl<E, P> fmt::Debug for EventType<E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EventType").field(&self.name).finish()
    }
}
