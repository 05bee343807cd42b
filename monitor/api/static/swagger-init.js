// Starts Swagger UI on /docs. A file, not an inline script, so the page's
// Content-Security-Policy can allow scripts from this server only.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null, // no badge fetched from validator.swagger.io: the docs stay offline
  });
});
