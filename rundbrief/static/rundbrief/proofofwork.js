// The sign-up form's proof-of-work (rundbrief/audience/proofofwork.py). When the reader first uses the
// form, fetch a challenge from this site, let a Web Worker find its number (proofofwork-worker.js) and put
// the solution into the hidden "altcha" field. The status line is a live region, so a screen reader
// hears "checking" and "done"; nothing needs a mouse. No inline script (ops/csp.py), no cookie, no
// request to another site.
(function () {
  "use strict";

  function setUp(box) {
    var form = box.closest("form");
    var field = box.querySelector("input[name=altcha]");
    var status = box.querySelector("[role=status]");
    var state = "idle"; // idle → working → done, or failed
    var submitWhenDone = false;

    function say(key) {
      status.textContent = status.dataset[key];
    }

    function fail() {
      state = "failed";
      say("failed");
    }

    function solved(challenge, number) {
      field.value = btoa(JSON.stringify({
        algorithm: challenge.algorithm,
        challenge: challenge.challenge,
        number: number,
        salt: challenge.salt,
        signature: challenge.signature
      }));
      state = "done";
      say("done");
      if (submitWhenDone) {
        if (form.requestSubmit) {
          form.requestSubmit();
        } else {
          form.submit();
        }
      }
    }

    function solve(challenge) {
      var worker = new Worker(box.dataset.workerUrl);
      worker.addEventListener("message", function (event) {
        worker.terminate();
        if (event.data.number === null) {
          fail();
        } else {
          solved(challenge, event.data.number);
        }
      });
      worker.addEventListener("error", fail);
      worker.postMessage(challenge);
    }

    function start() {
      if (state !== "idle") {
        return;
      }
      state = "working";
      say("working");
      if (!window.Worker || !window.crypto || !window.crypto.subtle) {
        fail(); // WebCrypto needs https (or localhost): the server then says the check is missing
        return;
      }
      fetch(box.dataset.challengeUrl, {credentials: "omit", cache: "no-store"})
        .then(function (response) {
          if (!response.ok) {
            throw new Error("challenge: HTTP " + response.status);
          }
          return response.json();
        })
        .then(solve)
        .catch(fail);
    }

    form.addEventListener("focusin", start);
    form.addEventListener("submit", function (event) {
      if (state === "done" || state === "failed") {
        return; // a failed check is sent as it is: the server answers with the reason, the input kept
      }
      event.preventDefault(); // sent by itself as soon as the check is done
      submitWhenDone = true;
      start();
    });
  }

  document.querySelectorAll("[data-proof-of-work]").forEach(setUp);
})();
