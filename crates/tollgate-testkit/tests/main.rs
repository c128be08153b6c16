//! Tests of the testkit's fakes over real HTTP: each fake must speak its provider's wire format
//! (JSON bodies and SSE streams), honour its knobs and count what it receives.

#[cfg(test)]
mod common;

#[cfg(test)]
mod openai_chat;
#[cfg(test)]
mod openai_knobs;
#[cfg(test)]
mod openai_responses;
#[cfg(test)]
mod openai_routes;
#[cfg(test)]
mod wires;
