// OAuth 2.0 Form Post Response Mode: send the response to the client as soon as the page is ready.
"use strict";
(function () {
  function submit() {
    var form = document.forms[0];
    if (form) {
      form.submit();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submit);
  } else {
    submit();
  }
})();
