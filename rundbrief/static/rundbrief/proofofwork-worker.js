// Solves one proof-of-work challenge in ALTCHA's format 1 (rundbrief/audience/proofofwork.py): the number
// n, 0 <= n <= maxNumber, whose SHA-256(salt + n), in hex, is the challenge. Hashes in batches, so
// that WebCrypto's digests run side by side instead of one promise at a time.
"use strict";

var BATCH = 1000;

function hex(buffer) {
  var bytes = new Uint8Array(buffer);
  var out = "";
  for (var i = 0; i < bytes.length; i++) {
    out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  }
  return out;
}

async function solve(challenge) {
  var encoder = new TextEncoder();
  var max = challenge.maxNumber;
  for (var first = 0; first <= max; first += BATCH) {
    var digests = [];
    for (var n = first; n < first + BATCH && n <= max; n++) {
      digests.push(crypto.subtle.digest(challenge.algorithm, encoder.encode(challenge.salt + n)));
    }
    var done = await Promise.all(digests);
    for (var i = 0; i < done.length; i++) {
      if (hex(done[i]) === challenge.challenge) {
        return first + i;
      }
    }
  }
  return null;
}

self.addEventListener("message", function (event) {
  solve(event.data).then(
    function (number) { self.postMessage({number: number}); },
    function () { self.postMessage({number: null}); }
  );
});
