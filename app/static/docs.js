// Starts Swagger UI on /docs (app/docs.py). A file rather than an inline
// script, so that the page's Content-Security-Policy allows no inline code.
"use strict";

(function () {
  const container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.specUrl,
    dom_id: "#swagger-ui",
    validatorUrl: null, // no badge fetched from validator.swagger.io: works offline
  });
})();
