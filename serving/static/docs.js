// Starts Swagger UI on /docs; kept out of the page so the CSP can forbid inline script.
"use strict";
(() => {
  const box = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: box.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
